"""`sentiops train`: prepared data in, a registered (and, if first, promoted) version out."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa

from sentiops.data.labels import LABELS, classes_for
from sentiops.data.store import manifest_hash, read_split
from sentiops.files import sha256_file
from sentiops.registry import Registry
from sentiops.training.distill import read_teacher_labels
from sentiops.training.finetune import TrainOptions, default_base_model, fine_tune
from sentiops.training.package import package_version
from sentiops.version import Metrics

log = logging.getLogger(__name__)


def texts_labels(table: pa.Table) -> tuple[list[str], np.ndarray]:
    return table.column("text").to_pylist(), np.asarray(table.column("label").to_pylist(), dtype=int)


def eval_sets(data_dir: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    return {name: texts_labels(read_split(data_dir, name)) for name in ("validation", "holdout")}


def train(
    registry: Registry,
    data_dir: Path,
    options: TrainOptions,
    teacher: Path | None = None,
    neutral_min_labels: int = 100,
) -> tuple[str, Metrics]:
    """Fine-tune on the prepared training split and register the result.

    ``teacher``: a teacher folder with labels (training/distill.py); the student then learns the
    teacher's probabilities for its texts instead of the split's emoticon labels.
    The new version becomes `production` only when there is no production version yet;
    replacing a production model is the retraining gate's job.
    """
    base = options.base_model or default_base_model()
    options.base_model = base
    data: dict = {
        "manifest_sha256": manifest_hash(data_dir),
        "train_file_sha256": sha256_file(data_dir / "train.parquet"),
    }
    if teacher is not None:
        taught = read_teacher_labels(teacher, options.max_examples)
        texts, data["teacher"] = taught.texts, taught.meta
        log.info("distilling: %d texts with the teacher's probabilities from %s", len(texts), teacher)
        if data["teacher"].get("trusted_share_excluded") is not None:
            data["trusted_share"] = data["teacher"]["trusted_share_excluded"]
        options.classes = taught.classes
        hard = taught.probs.argmax(axis=1).tolist()
        tuned = fine_tune(texts, hard, base, options, soft_targets=taught.probs)
    else:
        log.info("training on the split's emoticon labels (no teacher labels given: docs/distillation.md)")
        table = read_split(data_dir, "train")
        if options.max_examples and table.num_rows > options.max_examples:
            table = table.slice(0, options.max_examples)  # rows were shuffled by `data prepare`
        texts, labels = texts_labels(table)
        options.classes = classes_for(labels.tolist(), neutral_min_labels)
        if len(options.classes) < len(LABELS) and (labels >= len(options.classes)).any():
            keep = labels < len(options.classes)
            log.info(
                "%d neutral rows, under the %d needed to learn the class: training a binary model without them",
                int((~keep).sum()),
                neutral_min_labels,
            )
            texts, labels = [t for t, k in zip(texts, keep, strict=True) if k], labels[keep]
        tuned = fine_tune(texts, labels.tolist(), base, options)
    lineage = {
        "base_model": base,
        "init_from": "base",
        "parent_version": None,
        "data": {**data, "train_rows": len(texts), "feedback_files": []},
    }
    version, metrics = package_version(registry, tuned, options, eval_sets(data_dir), lineage)
    if "production" not in registry.aliases():
        registry.set_alias("production", version, reason="first model")
    return version, metrics
