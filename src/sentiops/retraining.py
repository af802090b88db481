"""`sentiops retrain`: fine-tune a challenger on new labelled data and gate its promotion.

Only a challenger that is not worse than the champion on the fixed holdout (by more than a
margin), better on the newest labelled data, and that passes the behavioural checks replaces
`production`. Every decision, with its numbers, goes to registry/decisions.jsonl.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from sentiops import behaviour
from sentiops.config import Settings
from sentiops.data.prepare import manifest_hash, read_split
from sentiops.files import sha256_file
from sentiops.inference import Predictor
from sentiops.registry import Registry
from sentiops.training.metrics import classification_report

log = logging.getLogger(__name__)


class RetrainError(RuntimeError):
    """The retrain cannot start or must stop before training (nothing was changed)."""


@dataclass
class RetrainOptions:
    max_examples: int = 4000
    epochs: float = 1.0
    start_from: str = "production"  # or "base"
    policy: str = "auto"  # or "staging"
    batch_size: int = 32
    learning_rate: float = 5e-5
    seed: int = 42
    base_model: str | None = None


@dataclass
class Decision:
    challenger: str
    champion: str
    action: str  # "promoted", "staged", "rejected"
    reasons: list[str] = field(default_factory=list)
    numbers: dict = field(default_factory=dict)


def lineage_feedback(registry: Registry, version: str) -> set[str]:
    """sha256 of every feedback file this version and its ancestors were trained on."""
    used: set[str] = set()
    seen = set()
    current: str | None = version
    while current and current not in seen and current in registry.versions():
        seen.add(current)
        training = registry.read_json(current, "training.json")
        used.update(f["sha256"] for f in training.get("data", {}).get("feedback_files", []))
        current = training.get("parent_version")
    return used


def validate_rows(table: pa.Table, source: str) -> None:
    """Stop before training on data that fails the checks, with a clear reason."""
    texts = table.column("text").to_pylist()
    labels = table.column("label").to_pylist()
    bad = sum(1 for t in texts if not isinstance(t, str) or not t.strip())
    unknown = sum(1 for y in labels if y not in (0, 1))
    if bad or unknown:
        raise RetrainError(f"{source}: {bad} rows with missing/empty text and {unknown} with unknown labels")
    if len(set(labels)) < 2:
        raise RetrainError(
            f"{source}: every label is {labels[0] if labels else 'missing'}; refusing to train on one class"
        )


def gather_data(settings: Settings, registry: Registry, champion: str, options: RetrainOptions) -> dict:
    used = lineage_feedback(registry, champion)
    files = sorted((settings.data / "feedback").glob("*.parquet"))
    fresh = [(f, sha256_file(f)) for f in files]
    fresh = [(f, digest) for f, digest in fresh if digest not in used]
    if not fresh:
        raise RetrainError(f"no new labelled feedback in {settings.data / 'feedback'} (all used by version {champion})")
    tables = []
    for path, _ in fresh:
        table = pq.read_table(path, columns=["id", "text", "label"])
        validate_rows(table, str(path))
        tables.append(table)
    new = pa.concat_tables(tables)
    validate_rows(new, "new feedback")
    rng = np.random.default_rng(options.seed)
    new = new.take(rng.permutation(new.num_rows))
    n_eval = max(1, new.num_rows // 5)  # the newest labelled data the gate compares on
    newest, new_train = new.slice(0, n_eval), new.slice(n_eval)
    budget = min(options.max_examples, int(new_train.num_rows / max(1e-9, 1 - settings.retrain_replay_share)))
    n_replay = int(budget * settings.retrain_replay_share)
    new_train = new_train.slice(0, budget - n_replay)
    original = read_split(settings.data, "train").select(["id", "text", "label"])
    replay = original.take(rng.choice(original.num_rows, min(n_replay, original.num_rows), replace=False))
    train = pa.concat_tables([new_train, replay.cast(new_train.schema)])
    train = train.take(rng.permutation(train.num_rows))
    return {
        "train": train,
        "newest": newest,
        "files": [{"path": str(f), "sha256": digest} for f, digest in fresh],
        "rows": {"new_train": new_train.num_rows, "replay": replay.num_rows, "newest_eval": newest.num_rows},
    }


def _xy(table: pa.Table) -> tuple[list[str], np.ndarray]:
    return table.column("text").to_pylist(), np.asarray(table.column("label").to_pylist(), dtype=int)


def retrain(settings: Settings, options: RetrainOptions) -> Decision:
    registry = Registry(settings.registry)
    registry.root.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(registry.root / ".retrain.lock"), timeout=0):
            return _retrain_locked(settings, registry, options)
    except Timeout as exc:
        raise RetrainError("another retrain is running (registry/.retrain.lock is held)") from exc


def _retrain_locked(settings: Settings, registry: Registry, options: RetrainOptions) -> Decision:
    from sentiops.training.finetune import TrainOptions, default_base_model, fine_tune, package_version

    registry.cleanup_temp()
    champion = registry.resolve("production")
    data = gather_data(settings, registry, champion, options)
    champion_training = registry.read_json(champion, "training.json")
    max_length = int(champion_training.get("max_length", 64))
    init_from = (
        str(registry.path(champion) / "hf")
        if options.start_from == "production"
        else (options.base_model or default_base_model())
    )
    train_opts = TrainOptions(
        init_from,
        options.max_examples,
        options.epochs,
        options.batch_size,
        options.learning_rate,
        max_length,
        options.seed,
    )
    texts, labels = _xy(data["train"])
    log.info("retraining from %s on %d rows (%s)", options.start_from, len(texts), data["rows"])
    tuned = fine_tune(texts, labels.tolist(), init_from, train_opts)

    holdout = _xy(read_split(settings.data, "holdout"))
    newest = _xy(data["newest"])
    eval_sets = {"validation": _xy(read_split(settings.data, "validation")), "holdout": holdout, "newest": newest}
    lineage = {
        "base_model": champion_training.get("base_model"),
        "init_from": f"version {champion}" if options.start_from == "production" else "base",
        "parent_version": champion,
        "data": {
            "manifest_sha256": manifest_hash(settings.data),
            "feedback_files": data["files"],
            "rows": data["rows"],
            "replay_share": settings.retrain_replay_share,
        },
    }
    challenger, metrics = package_version(registry, tuned, train_opts, eval_sets, lineage)
    decision = _gate(settings, registry, champion, challenger, metrics, holdout, newest, options.policy)
    decision.numbers["data"] = data["rows"]
    registry.log_decision(asdict(decision))
    removed = registry.prune(settings.keep_versions)
    if removed:
        log.info("retention: removed versions %s", removed)
    return decision


def _gate(
    settings: Settings,
    registry: Registry,
    champion: str,
    challenger: str,
    metrics: dict,
    holdout: tuple,
    newest: tuple,
    policy: str,
) -> Decision:
    old = Predictor.load(registry, champion, variant=settings.onnx_variant)
    new = Predictor.load(registry, challenger, variant=settings.onnx_variant)
    numbers: dict = {"challenger": {}, "champion": {}}
    for name, (texts, y) in (("holdout", holdout), ("newest", newest)):
        numbers["challenger"][name] = {k: metrics[name][k] for k in ("accuracy", "macro_f1")}
        probs, _, _ = old.probabilities(texts)
        report = classification_report(y, probs, old.labels)
        numbers["champion"][name] = {k: report[k] for k in ("accuracy", "macro_f1")}
    mft = behaviour.minimum_functionality(new)
    inv = behaviour.invariance(new, holdout[0])
    agree = behaviour.agreement(new, old, holdout[0])
    numbers["behaviour"] = {"minimum_functionality": mft, "invariance": inv, "champion_agreement": agree}

    reasons = []
    holdout_change = numbers["challenger"]["holdout"]["accuracy"] - numbers["champion"]["holdout"]["accuracy"]
    newest_gain = numbers["challenger"]["newest"]["accuracy"] - numbers["champion"]["newest"]["accuracy"]
    if holdout_change < -settings.retrain_holdout_margin:
        reasons.append(f"holdout accuracy fell by {-holdout_change:.4f} (margin {settings.retrain_holdout_margin})")
    if newest_gain <= settings.retrain_newest_min_gain:
        reasons.append(f"newest-data accuracy gain {newest_gain:+.4f} is not above {settings.retrain_newest_min_gain}")
    if mft["pass_rate"] < settings.retrain_min_functionality:
        reasons.append(f"minimum functionality {mft['pass_rate']:.2f} < {settings.retrain_min_functionality}")
    if inv["invariant_rate"] < 1.0:
        reasons.append(f"mention/URL invariance {inv['invariant_rate']:.4f} < 1.0")
    if agree < settings.retrain_min_agreement:
        reasons.append(f"agreement with champion {agree:.4f} < {settings.retrain_min_agreement}")
    numbers.update(holdout_change=holdout_change, newest_gain=newest_gain)

    if policy == "staging":
        registry.set_alias("staging", challenger, reason="retrain (staging policy)")
        action = "staged"
    elif reasons:
        action = "rejected"
    else:
        registry.set_alias("production", challenger, reason="retrain gate passed")
        action = "promoted"
    return Decision(challenger, champion, action, reasons or ["all gate checks passed"], numbers)


def decision_lines(decision: Decision) -> list[str]:
    n = decision.numbers
    new, old = n["challenger"], n["champion"]
    lines = [
        f"- challenger {decision.challenger} vs champion {decision.champion}: {decision.action}",
        f"- holdout accuracy {new['holdout']['accuracy']:.4f} vs {old['holdout']['accuracy']:.4f}",
        f"- newest-data accuracy {new['newest']['accuracy']:.4f} vs {old['newest']['accuracy']:.4f}",
        f"- minimum functionality {n['behaviour']['minimum_functionality']['pass_rate']:.2f}, "
        f"invariance {n['behaviour']['invariance']['invariant_rate']:.4f}, "
        f"agreement {n['behaviour']['champion_agreement']:.4f}",
    ]
    return lines + [f"- {reason}" for reason in decision.reasons]


def notify(settings: Settings, decision: Decision) -> list:
    from sentiops.monitoring.alerts import Notifier

    notifier = Notifier(settings)
    if not notifier.configured:
        return []
    title = f"sentiops retrain: version {decision.challenger} {decision.action}"
    return notifier.send(title, decision_lines(decision), {"kind": "retrain", **asdict(decision)})
