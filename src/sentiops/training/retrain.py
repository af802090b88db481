"""`sentiops retrain`: fine-tune a challenger on new labelled data and gate its promotion.

Every trusted label trains, the older ones again (with replay of the original training rows against forgetting, and
untrusted labels filling up to a bounded number per trusted one), except the trusted evaluation
share (data/trusted.py), raised while people's labels are few. With at least
`retrain_min_trusted` trusted held-back labels the gate decides on them, the distant-label
holdout guarding against gross regressions; with fewer, on the holdout and the newest fifth of
the untrusted feedback.
Every decision, with its numbers and the evidence that decided, goes to registry/decisions.jsonl.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from filelock import FileLock, Timeout

from sentiops.config import TEACHER_LABELS_FILE, Settings
from sentiops.data.feedback_reader import all_labels, current_labels, parts, trusted_labels
from sentiops.data.labels import LABEL2ID, LABELS, NEUTRAL, classes_for
from sentiops.data.store import manifest_hash, read_split
from sentiops.data.trusted import held_back_mask, share_for, trusted_eval
from sentiops.files import sha256_file
from sentiops.pins import pinned_versions
from sentiops.registry import Registry
from sentiops.text import dedup_key
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
    # The teacher's probabilities (`sentiops teacher label`) for the replayed rows and unlabelled
    # traffic, instead of the emoticons (training/distill.py).
    distill: bool = False


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


def validate_rows(table: pa.Table, source: str, both_classes: bool = True) -> None:
    """Stop before training on data that fails the checks, with a clear reason. A single part may
    hold one class (the Label page writes one label per part); what trains together may not."""
    texts = table.column("text").to_pylist()
    labels = table.column("label").to_pylist()
    bad = sum(1 for t in texts if not isinstance(t, str) or not t.strip())
    unknown = sum(1 for y in labels if y not in range(len(LABELS)))
    if bad or unknown:
        raise RetrainError(f"{source}: {bad} rows with missing/empty text and {unknown} with unknown labels")
    if both_classes and len(set(labels)) < 2:
        raise RetrainError(
            f"{source}: every label is {labels[0] if labels else 'missing'}; refusing to train on one class"
        )


def lineage_trained_keys(
    registry: Registry, version: str, share: float, by_hash: dict[str, Path], train_texts: list[str], stored: pa.Table
) -> set[str]:
    """Texts (dedup keys) of the trusted held-back share that this version's lineage may have
    trained on: the feedback of ancestors from before the trusted set (``by_hash``: the store's
    parts by sha256; ``stored``: every label in the store, with its part), and the training split."""
    keys = {dedup_key(t) for t in train_texts}
    seen: set[str] = set()
    current: str | None = version
    while current and current not in seen and current in registry.versions():
        seen.add(current)
        training = registry.training(current)
        if training.data.trusted_share is None or training.data.trusted_share < share:
            names = pa.array([by_hash[d].name for d in training.feedback_hashes & set(by_hash)], pa.string())
            keys |= set(stored.filter(pc.is_in(stored.column("part"), names)).column("key").to_pylist())
        current = training.parent_version
    return keys


def challenger_classes(settings: Settings, registry: Registry, champion: str, people: pa.Table) -> tuple[str, ...]:
    """The champion's classes, widened to three once enough of people's neutral labels would train:
    neutral comes only from people (Sentiment140's emoticon labels have none)."""
    have = tuple(registry.folder(champion).labels().labels)
    if len(have) >= len(LABELS):
        return LABELS
    return classes_for(people.column("label").to_pylist(), settings.neutral_min_labels)


def class_priors(targets: np.ndarray) -> dict[str, list[float]] | None:
    """Class shares of the training targets (a probability row per training row) and the balanced
    shares the head is moved to, for a three-class challenger (None for a binary one: both
    sources have both classes). Balanced, not the stream's: the gate and the users' benchmark
    judge macro-recall, which a balanced prior maximises (Menon et al. 2021); the stream's prior
    (people's random picks) raised neutral recall to 0.76 but cut positive recall to 0.34
    (`make bench-neutral`, 500 labels)."""
    classes = targets.shape[1]
    if classes < len(LABELS):
        return None
    shares = (targets.sum(axis=0) + 1) / (targets.shape[0] + classes)
    return {"train": [round(float(x), 6) for x in shares], "target": [round(1 / classes, 6)] * classes}


def one_hot(labels: list[int], classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[np.asarray(labels, dtype=int)]


def taught_rows(
    settings: Settings, classes: tuple[str, ...], exclude: set[str], share: float, replay: int, budget: int
) -> tuple[pa.Table, np.ndarray, dict[str, Any]]:
    """Rows the teacher labelled that no person did: unlabelled traffic (all of it, up to
    ``budget``) and ``replay`` of the train split's texts, in place of emoticon replay. Texts in
    ``exclude`` (dedup keys people labelled) and the trusted evaluation share are left out."""
    from sentiops.training.distill import read_teacher_labels

    if not (settings.teacher / TEACHER_LABELS_FILE).is_file():
        raise RetrainError(f"no teacher labels in {settings.teacher}: run `sentiops teacher train --from-labels` first")
    taught = read_teacher_labels(settings.teacher)
    if taught.classes != classes:
        raise RetrainError(
            f"the teacher answers {list(taught.classes)} and this challenger needs {list(classes)}: "
            "run `sentiops teacher train --from-labels` (then it labels) first"
        )
    keep = [
        dedup_key(t) not in exclude and not held
        for t, held in zip(taught.texts, held_back_mask(taught.texts, share).to_pylist(), strict=True)
    ]
    picked: dict[str, list[int]] = {"traffic": [], "train": []}
    for i, (ok, source) in enumerate(zip(keep, taught.sources, strict=True)):
        if ok and source in picked:
            picked[source].append(i)
    rows = picked["traffic"][: max(0, budget)] + picked["train"][:replay]
    texts = [taught.texts[i] for i in rows]
    probs = taught.probs[rows]
    table = pa.table(
        {"id": [f"teacher-{i}" for i in rows], "text": texts, "label": probs.argmax(axis=1).astype(np.int64)}
    )
    meta = {key: taught.meta.get(key) for key in ("labels_sha256", "teacher_created", "teacher_source", "classes")}
    meta["rows"] = {"traffic": min(len(picked["traffic"]), max(0, budget)), "train": len(picked["train"][:replay])}
    return table, probs, meta


def gather_data(settings: Settings, registry: Registry, champion: str, options: RetrainOptions) -> dict[str, Any]:
    used = lineage_feedback(registry, champion)
    hashed = [(f, sha256_file(f)) for f in parts(settings.data)]  # each part hashed once
    fresh = [(f, digest) for f, digest in hashed if digest not in used]
    by_hash = {digest: f for f, digest in hashed}
    if not fresh:
        raise RetrainError(f"no new labelled feedback in {settings.data / 'feedback'} (all used by version {champion})")
    stored = all_labels(settings.data)
    # Each text trains on its current label only (current_rows: trusted beats untrusted, then the
    # newest); an untrusted label only where it is in a part no ancestor trained on.
    every = current_labels(settings.data)
    current = every.filter(pc.is_in(every.column("part"), pa.array([f.name for f, _ in fresh], pa.string())))
    trusted_column = pc.fill_null(current.column("trusted"), False)
    new = current.select(["id", "text", "label"]).append_column("trusted", trusted_column)
    validate_rows(new, "new feedback")
    # The trusted evaluation share is never trained on, whoever sent the label; while people's
    # labels are few it is raised so that enough of them are held back to decide on.
    people = trusted_labels(settings.data)
    people_texts = people.column("text").to_pylist()
    share = share_for(people_texts, settings.retrain_trusted_share, settings.retrain_trusted_eval_floor)
    kept_out = held_back_mask(new.column("text").to_pylist(), share)
    held = int(pc.sum(kept_out).as_py() or 0)
    new = new.filter(pc.invert(kept_out))
    if new.num_rows == 0:
        raise RetrainError(f"all {held} new labels fall in the trusted evaluation share: nothing to train on")
    validate_rows(new, "new feedback (without the trusted evaluation share)")
    original = read_split(settings.data, "train").select(["id", "text", "label"])
    trained = lineage_trained_keys(registry, champion, share, by_hash, original.column("text").to_pylist(), stored)
    trusted = trusted_eval(every, share, trained)
    rng = np.random.default_rng(options.seed)
    new = new.take(rng.permutation(new.num_rows))
    # People's labels are few and dear: every one not held back trains, from whichever part
    # (the champion saw the older ones; training on them again keeps them from being forgotten).
    people = people.filter(pc.invert(held_back_mask(people_texts, share)))
    people = people.select(["id", "text", "label"]).append_column("trusted", pa.array([True] * people.num_rows))
    people = people.take(rng.permutation(people.num_rows))
    classes = challenger_classes(settings, registry, champion, people)
    waiting = 0  # neutral labels stored for a later three-class model
    if len(classes) < len(LABELS):
        untrusted = new.filter(pc.invert(new.column("trusted")))  # people's are in `people` already
        waiting = sum(
            int(pc.sum(pc.equal(t.column("label"), LABEL2ID[NEUTRAL])).as_py() or 0) for t in (people, untrusted)
        )
        people, new, original = (t.filter(pc.less(t.column("label"), len(classes))) for t in (people, new, original))
    others = new.filter(pc.invert(new.column("trusted")))
    if trusted.num_rows >= settings.retrain_min_trusted:
        evidence, newest = "trusted", trusted  # people's held-back labels decide
    else:
        # Too few for the gate to rest on them: beside the holdout it compares on the trusted labels
        # held back (never trained on anyway) and a fifth of the others (held out of training here).
        evidence = "holdout"
        n_eval = others.num_rows // 5
        if trusted.num_rows + n_eval == 0:  # too few of either held back: a fifth of all
            mixed = pa.concat_tables([people, others])
            n_eval = max(1, mixed.num_rows // 5)
            newest, rest = mixed.slice(0, n_eval), mixed.slice(n_eval)
            people, others = rest.filter(rest.column("trusted")), rest.filter(pc.invert(rest.column("trusted")))
        else:
            newest = pa.concat_tables([trusted, others.slice(0, n_eval).select(trusted.column_names)])
            others = others.slice(n_eval)
    # Every trusted label that is not held back trains; the others fill the rest of the new rows'
    # budget, at most `retrain_untrusted_per_trusted` of them per trusted label when there are any.
    replay_share = settings.retrain_replay_share
    fill = max(0, int(options.max_examples * (1 - replay_share)) - people.num_rows)
    if people.num_rows:
        fill = min(fill, int(people.num_rows * settings.retrain_untrusted_per_trusted))
    columns = ["id", "text", "label"]
    new_train = pa.concat_tables([people.select(columns), others.slice(0, fill).select(columns)])
    if new_train.num_rows == 0:
        raise RetrainError("every new label is held back to evaluate on: nothing to train on")
    validate_rows(new_train, "new feedback to train on")
    n_replay = int(new_train.num_rows * replay_share / max(1e-9, 1 - replay_share))
    targets = one_hot(new_train.column("label").to_pylist(), len(classes))
    teacher = None
    if options.distill:
        labelled = {dedup_key(t) for t in stored.column("text").to_pylist()}
        budget = options.max_examples - new_train.num_rows  # traffic first: today's tweets, then replay
        replay, taught, teacher = taught_rows(settings, classes, labelled, share, n_replay, budget)
        targets = np.concatenate([targets, taught])
    else:
        replay = original.take(rng.choice(original.num_rows, min(n_replay, original.num_rows), replace=False))
        targets = np.concatenate([targets, one_hot(replay.column("label").to_pylist(), len(classes))])
    train = pa.concat_tables([new_train, replay.select(columns).cast(new_train.schema)])
    order = rng.permutation(train.num_rows)
    train, targets = train.take(order), targets[order]
    return {
        "train": train,
        "targets": targets if options.distill else None,
        "teacher": teacher,
        "priors": class_priors(targets),
        "newest": newest.select(columns),
        "evidence": evidence,
        "files": [{"path": str(f), "sha256": digest} for f, digest in fresh],
        "trusted_share": share,
        "labels_window": _window(current),
        "classes": list(classes),
        "rows": {
            "neutral_waiting": waiting,
            "new_train": new_train.num_rows,
            "trusted_train": people.num_rows,
            "untrusted_train": new_train.num_rows - people.num_rows,
            "replay": replay.num_rows - (teacher["rows"]["traffic"] if teacher else 0),
            "teacher_traffic": teacher["rows"]["traffic"] if teacher else 0,
            "newest_eval": newest.num_rows if evidence == "holdout" else 0,
            "trusted_eval": trusted.num_rows,
            "kept_out_trusted_share": held,
        },
    }


def _window(labels: pa.Table) -> dict[str, str] | None:
    """When the labels of the parts read were received (the model card's window)."""
    if "received_at" not in labels.column_names or labels.num_rows == 0:
        return None
    first, last = pc.min_max(labels.column("received_at")).values()
    if not first.is_valid:
        return None
    return {"first": first.as_py().isoformat(timespec="seconds"), "last": last.as_py().isoformat(timespec="seconds")}


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
    from sentiops.training.finetune import TrainOptions, adjust_for_prior, default_base_model, fine_tune
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
    epochs = options.epochs
    if len(data["classes"]) > len(registry.folder(champion).labels().labels):
        epochs = max(epochs, settings.retrain_new_class_epochs)  # a class learned from people's labels alone
    train_opts = TrainOptions(
        init_from,
        options.max_examples,
        epochs,
        options.batch_size,
        options.learning_rate,
        max_length,
        options.seed,
        classes=tuple(data["classes"]),
    )
    texts, labels = _xy(data["train"])
    log.info(
        "retraining from %s on %d rows (%s); the gate decides on %s",
        options.start_from,
        len(texts),
        data["rows"],
        "people's held-back labels" if data["evidence"] == "trusted" else "the holdout and the newest feedback",
    )
    tuned = fine_tune(texts, labels.tolist(), init_from, train_opts, soft_targets=data["targets"])
    priors = data["priors"]
    if priors is not None:
        priors["bias_shift"] = adjust_for_prior(tuned.model, np.array(priors["train"]), np.array(priors["target"]))
        log.info("class shares: trained %s, balanced to %s: head biases shifted %s", *priors.values())

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
            "trusted_share": data["trusted_share"],
            "class_priors": data["priors"],
            "labels_window": data["labels_window"],
            **({"teacher": data["teacher"]} if data["teacher"] else {}),
        },
    }
    challenger, _ = package_version(registry, tuned, train_opts, eval_sets, lineage)
    decision = gate(settings, registry, champion, challenger, holdout, newest, options.policy, data["evidence"])
    decision.numbers["data"] = data["rows"]
    decision.numbers["trusted_share"] = data["trusted_share"]
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
