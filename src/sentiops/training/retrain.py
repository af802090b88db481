"""`sentiops retrain`: fine-tune a challenger on new labelled data and gate its promotion.

Only a challenger that is not worse than the champion on the fixed holdout (by more than a
margin), better on the newest labelled data, and that passes the behavioural checks replaces
`production`. Every decision, with its numbers, goes to registry/decisions.jsonl.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
from filelock import FileLock, Timeout

from sentiops.config import Settings
from sentiops.data.feedback import newest_label_times, read_part
from sentiops.data.store import manifest_hash, read_split
from sentiops.files import sha256_file
from sentiops.pins import pinned_versions
from sentiops.registry import Registry
from sentiops.training.gate import Decision, Policy, decision_lines, gate

if TYPE_CHECKING:
    from sentiops.monitoring.alerts import Delivery

log = logging.getLogger(__name__)


class RetrainError(RuntimeError):
    """The retrain cannot start or must stop before training (nothing was changed)."""


StartFrom = Literal["production", "base"]


@dataclass
class RetrainOptions:
    max_examples: int = 4000
    epochs: float = 1.0
    start_from: StartFrom = "production"
    policy: Policy = "auto"
    batch_size: int = 32
    learning_rate: float = 5e-5
    seed: int = 42
    base_model: str | None = None


def lineage_feedback(registry: Registry, version: str) -> set[str]:
    """sha256 of every feedback file this version and its ancestors were trained on."""
    used: set[str] = set()
    seen = set()
    current: str | None = version
    while current and current not in seen and current in registry.versions():
        seen.add(current)
        training = registry.training(current)
        used.update(training.feedback_hashes)
        current = training.parent_version
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


def gather_data(settings: Settings, registry: Registry, champion: str, options: RetrainOptions) -> dict[str, Any]:
    used = lineage_feedback(registry, champion)
    files = sorted((settings.data / "feedback").glob("*.parquet"))
    fresh = [(f, sha256_file(f)) for f in files]
    fresh = [(f, digest) for f, digest in fresh if digest not in used]
    if not fresh:
        raise RetrainError(f"no new labelled feedback in {settings.data / 'feedback'} (all used by version {champion})")
    tables = []
    newest = newest_label_times(settings.data)  # a relabelled prediction trains on its newest label only
    for path, _ in fresh:
        table = read_part(path, newest)
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
    from sentiops.training.finetune import TrainOptions, default_base_model, fine_tune
    from sentiops.training.package import package_version

    registry.cleanup_temp()
    champion = registry.resolve("production")
    data = gather_data(settings, registry, champion, options)
    champion_training = registry.training(champion)
    max_length = champion_training.max_length
    if options.start_from == "production":
        # Fine-tuning continues from the champion's weights: never from files that changed.
        init_from = str(registry.verify(champion) / "hf")
    else:
        init_from = options.base_model or default_base_model()
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
        "base_model": champion_training.base_model,
        "init_from": f"version {champion}" if options.start_from == "production" else "base",
        "parent_version": champion,
        "data": {
            "manifest_sha256": manifest_hash(settings.data),
            "feedback_files": data["files"],
            "rows": data["rows"],
            "replay_share": settings.retrain_replay_share,
        },
    }
    challenger, _ = package_version(registry, tuned, train_opts, eval_sets, lineage)
    decision = gate(settings, registry, champion, challenger, holdout, newest, options.policy)
    decision.numbers["data"] = data["rows"]
    registry.log_decision(asdict(decision))
    removed = registry.prune(settings.keep_versions, pinned=pinned_versions(settings.results))
    if removed:
        log.info("retention: removed versions %s", removed)
    return decision


def notify(settings: Settings, decision: Decision) -> list[Delivery]:
    from sentiops.monitoring.alerts import Notifier

    notifier = Notifier(settings)
    if not notifier.configured:
        return []
    title = f"sentiops retrain: version {decision.challenger} {decision.action}"
    return notifier.send(title, decision_lines(decision), {"kind": "retrain", **asdict(decision)})
