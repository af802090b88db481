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
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.metrics import f1_score

from sentiops.config import Settings
from sentiops.data.feedback import current_labels
from sentiops.data.labels import LABELS
from sentiops.data.predictions import batch_date_of, partition_of, read_log
from sentiops.data.readers import reading
from sentiops.text import dedup_key
from sentiops.volume import DateFiles, drift_history


def _predictions(settings: Settings, date: str) -> pa.Table:
    """(prediction_id, label, text) of every API and batch prediction of the date."""
    tables = [read_log(settings.results, date, ["prediction_id", "label", "text"])]
    scores = DateFiles(settings.results, date).scores
    files = sorted(scores.glob("*.parquet")) if scores.is_dir() else []
    if files:
        with reading(scores):
            if "prediction_id" in pq.read_schema(files[0]).names:  # scores of earlier releases have none
                tables.append(pq.read_table(scores, columns=["prediction_id", "label", "text"]))
    return pa.concat_tables([t.cast(tables[0].schema) for t in tables])


def realized_for_date(settings: Settings, date: str) -> dict[str, Any] | None:
    """Accuracy and macro-F1 on the date's labelled predictions, with a 95% interval and n; all
    labels and the random ones apart. None when no label joins a prediction of the date."""
    labels = current_labels(settings.data)
    if labels.num_rows == 0:
        return None
    predictions = _predictions(settings, date)
    by_id = dict(
        zip(predictions.column("prediction_id").to_pylist(), predictions.column("label").to_pylist(), strict=True)
    )
    by_text = {
        dedup_key(text): label
        for text, label in zip(
            predictions.column("text").to_pylist(), predictions.column("label").to_pylist(), strict=True
        )
        if text
    }
    truth, predicted, random = [], [], []
    for row in labels.select(["prediction_id", "text", "label", "picked"]).to_pylist():
        answer = by_id.get(row["prediction_id"]) if row["prediction_id"] else by_text.get(dedup_key(row["text"] or ""))
        if answer is None:
            continue
        truth.append(LABELS[int(row["label"])])
        predicted.append(answer)
        random.append((row["picked"] or "random") == "random")
    if not truth:
        return None
    y, p, r = np.array(truth), np.array(predicted), np.array(random)
    found = {**_scores(y, p, "all"), **_scores(y[r], p[r], "random")}
    found["unbiased"] = bool(r.all())
    return found


def _scores(truth: np.ndarray, predicted: np.ndarray, prefix: str) -> dict[str, Any]:
    n = len(truth)
    if n == 0:
        return {f"{prefix}_n": 0}
    correct = int((truth == predicted).sum())
    low, high = wilson(correct, n)
    return {
        f"{prefix}_n": n,
        f"{prefix}_accuracy": correct / n,
        f"{prefix}_low": low,
        f"{prefix}_high": high,
        f"{prefix}_macro_f1": float(f1_score(truth, predicted, labels=list(LABELS), average="macro", zero_division=0)),
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
