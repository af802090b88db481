"""Realized accuracy: the labels that came back, joined to the predictions of one date.

A label finds its prediction by prediction id (the API's log and the batch scores carry the same
kind of id) or, for labels sent with a text, by the cleaned text. Labels arrive late: a date is
recomputed when labels for it arrive after it was checked (`dates_with_late_labels`). Only labels
picked at random are an unbiased sample of traffic, so only they grade the `realized_performance`
check; every label counts in the figures reported beside them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sklearn.metrics import f1_score

from sentiops.config import Settings
from sentiops.data.feedback_reader import current_labels, trusted_labels
from sentiops.data.labels import LABELS
from sentiops.data.predictions import ANSWERED_ROLES, batch_date_of, log_files, partition_of, read_log_file
from sentiops.data.readers import reading
from sentiops.monitoring.scored import iter_scored
from sentiops.text import dedup_key
from sentiops.volume import DateFiles, drift_history


def _prediction_chunks(settings: Settings, date: str) -> Iterator[pa.RecordBatch | pa.Table]:
    """(prediction_id, label, text) of the date's API answers and batch predictions, a chunk at a
    time. Shadow rows are left out: their answers reached no caller, and a label sent with a text
    would otherwise join both models' answers."""
    columns = ["prediction_id", "label", "text"]
    for file in log_files(settings.results, date):
        table = read_log_file(file, [*columns, "role"])
        answered = pc.is_in(table.column("role"), pa.array(ANSWERED_ROLES))
        yield table.filter(answered).select(columns)
    scores = DateFiles(settings.results, date).scores
    files = sorted(scores.glob("*.parquet")) if scores.is_dir() else []
    if files:
        with reading(files[0]):
            has_ids = "prediction_id" in pq.read_schema(files[0]).names  # scores of earlier releases have none
        if has_ids:
            yield from iter_scored(scores, columns)


def realized_for_date(settings: Settings, date: str) -> dict[str, Any] | None:
    """Accuracy and macro-F1 on the date's labelled predictions, with a 95% interval and n; all
    labels and the random ones apart. Only trusted labels grade (people's, never an API caller's:
    a caller who sends wrong labels must not raise or silence an alert). None when no label joins
    a prediction of the date. The predictions are read chunk by chunk and only the labelled ones
    are kept."""
    labels = trusted_labels(settings.data).select(["prediction_id", "text", "label", "picked"]).to_pylist()
    if not labels:
        return None
    by_id = {row["prediction_id"]: row for row in labels if row["prediction_id"]}
    by_text = {dedup_key(row["text"]): row for row in labels if not row["prediction_id"] and row["text"]}
    joined: dict[int, tuple[dict[str, Any], str]] = {}  # label row (by identity) -> predicted label
    for chunk in _prediction_chunks(settings, date):
        ids, answers = chunk.column("prediction_id").to_pylist(), chunk.column("label").to_pylist()
        texts = chunk.column("text").to_pylist() if by_text else [None] * len(ids)
        for pid, answer, text in zip(ids, answers, texts, strict=True):
            row = by_id.get(pid) or (by_text.get(dedup_key(text)) if text else None)
            if row is not None:
                joined[id(row)] = (row, answer)
    if not joined:
        return None
    truth = np.array([LABELS[int(row["label"])] for row, _ in joined.values()])
    predicted = np.array([answer for _, answer in joined.values()])
    random = np.array([(row["picked"] or "random") == "random" for row, _ in joined.values()])
    found = {**_scores(truth, predicted, "all"), **_scores(truth[random], predicted[random], "random")}
    found["unbiased"] = bool(random.all())
    return found


def _scores(truth: np.ndarray, predicted: np.ndarray, prefix: str) -> dict[str, Any]:
    n = len(truth)
    if n == 0:
        return {f"{prefix}_n": 0}
    correct = int((truth == predicted).sum())
    low, high = wilson(correct, n)
    seen = [name for name in LABELS if name in set(truth) | set(predicted)]
    return {
        f"{prefix}_n": n,
        f"{prefix}_accuracy": correct / n,
        f"{prefix}_low": low,
        f"{prefix}_high": high,
        # Over the classes seen (a neutral label a binary model cannot give counts as its miss).
        f"{prefix}_macro_f1": float(f1_score(truth, predicted, labels=seen, average="macro", zero_division=0)),
    }


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (sound at small n and near 0 or 1)."""
    if n == 0:
        return float("nan"), float("nan")
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newest_realized(results: Path) -> float | None:
    """Realized accuracy of the newest checked date that has labels (the API's gauge)."""
    history = drift_history(results)
    if not history.is_file():
        return None
    with reading(history):
        table = pq.read_table(history)
    if "realized_accuracy" not in table.column_names:
        return None
    found = [v for v in table.sort_by("date").column("realized_accuracy").to_pylist() if v is not None and v == v]
    return float(found[-1]) if found else None


def dates_with_late_labels(settings: Settings, checked: list[str]) -> list[str]:
    """Checked dates for which labels arrived after their check: they are checked again."""
    labels = current_labels(settings.data).select(["prediction_id", "received_at"]).to_pylist()
    arrived: dict[str, dt.datetime] = {}
    for row in labels:
        pid, at = row["prediction_id"], row["received_at"]
        if not pid or at is None:
            continue
        part = partition_of(pid)
        date = part[0] if part else batch_date_of(pid)
        if date and (date not in arrived or at > arrived[date]):
            arrived[date] = at
    late = []
    for date in checked:
        record = DateFiles(settings.results, date).drift_json
        if date not in arrived or not record.is_file():
            continue
        checked_at = json.loads(record.read_text()).get("checked_at", 0)
        if arrived[date].timestamp() > checked_at:
            late.append(date)
    return late
