"""`sentiops label queue`: which tweets people should label next.

Three kinds, each item keeping why it was picked:
- random: a uniform sample of the traffic. Only these grade realized accuracy without bias
  (a share of the queue, 30% by default, is always random);
- drift: tweets of days whose drift checks fired (what changed is what the model knows least);
- uncertain: the lowest calibrated confidence (where a label teaches the model most).

Candidates are the API's prediction log and the batch scores of the dates asked for; never a text
the store already holds a label for, never one queued before, never holdout or validation text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from sentiops.config import Settings
from sentiops.data.feedback import protected_keys, stored_labels
from sentiops.data.predictions import read_log
from sentiops.data.readers import reading
from sentiops.evaluation.calibration import calibrate
from sentiops.labelling.queue import add_items, all_items
from sentiops.registry import Registry
from sentiops.text import dedup_key
from sentiops.volume import DateFiles, drift_history

FIRED = ("warning", "drift")


@dataclass
class Refresh:
    added: dict[str, int] = field(default_factory=dict)  # per reason
    candidates: int = 0
    drift_dates: list[str] = field(default_factory=list)
    path: Path | None = None

    @property
    def total(self) -> int:
        return sum(self.added.values())


def _dates(since: dt.date, until: dt.date) -> list[str]:
    return [(since + dt.timedelta(days=i)).isoformat() for i in range((until - since).days + 1)]


def _api_rows(results: Path, date: str) -> list[dict[str, Any]]:
    table = read_log(results, date, ["prediction_id", "role", "model_version", "label", "confidence", "text"])
    return [
        {**r, "source": "api", "date": date}
        for r in table.to_pylist()
        if r["text"] and r.get("role") in (None, "production")
    ]


def _batch_rows(results: Path, date: str) -> list[dict[str, Any]]:
    folder = DateFiles(results, date).scores
    if not folder.is_dir():
        return []
    with reading(folder):
        table = pq.read_table(folder, columns=["prediction_id", "model_version", "label", "confidence", "text"])
    return [{**r, "source": "batch", "date": date} for r in table.to_pylist() if r["text"]]


def fired_dates(results: Path) -> set[str]:
    """Dates whose drift check ended in warning or drift."""
    path = drift_history(results)
    if not path.is_file():
        return set()
    with reading(path):
        table = pq.read_table(path, columns=["date", "status"])
    return {d for d, s in zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True) if s in FIRED}


def _calibrated(settings: Settings, rows: list[dict[str, Any]]) -> None:
    """Each row's confidence through its model version's temperature (rankings across versions agree)."""
    registry = Registry(settings.registry)
    temperatures: dict[str, float | None] = {}
    for row in rows:
        version = str(row.get("model_version") or "")
        if version not in temperatures:
            try:
                temperatures[version] = registry.folder(version).metrics().temperature if version else None
            except Exception:  # a version pruned since: its raw confidence still ranks
                temperatures[version] = None
        raw = float(row["confidence"]) if row.get("confidence") is not None else 0.5
        temperature = temperatures[version]
        row["confidence"] = float(calibrate(np.array([[raw, 1 - raw]]), temperature).max()) if temperature else raw


def candidates(settings: Settings, since: dt.date, until: dt.date) -> list[dict[str, Any]]:
    """Rows of the window that may be queued: one per text, none labelled, queued or protected."""
    excluded = protected_keys(settings.data) | set(stored_labels(settings.data).labels)
    excluded |= {dedup_key(i.text) for i in all_items(settings.data)}
    labelled_ids = stored_labels(settings.data).ids
    seen: set[str] = set()
    found = []
    for date in _dates(since, until):
        for row in _api_rows(settings.results, date) + _batch_rows(settings.results, date):
            key = dedup_key(row["text"])
            if key in excluded or key in seen or row["prediction_id"] in labelled_ids or not key:
                continue
            seen.add(key)
            found.append(row)
    _calibrated(settings, found)
    return found


def pick(
    rows: list[dict[str, Any]],
    size: int,
    random_share: float,
    drift_share: float,
    fired: set[str],
    rng: np.random.Generator,
) -> list[tuple[dict[str, Any], str]]:
    """Random first (its share of ``size``), then tweets of fired days, then the most uncertain."""
    left = list(rng.permutation(len(rows)))
    chosen: list[tuple[int, str]] = []
    n_random = min(len(left), round(size * random_share))
    chosen += [(i, "random") for i in left[:n_random]]
    left = left[n_random:]
    on_fired = [i for i in left if rows[i]["date"] in fired]
    n_drift = min(len(on_fired), round(size * drift_share), max(0, size - n_random)) if fired else 0
    chosen += [(i, "drift") for i in on_fired[:n_drift]]
    taken = {i for i, _ in chosen}
    rest = sorted((i for i in left if i not in taken), key=lambda i: rows[i]["confidence"])
    chosen += [(i, "uncertain") for i in rest[: max(0, size - len(chosen))]]
    order = rng.permutation(len(chosen))  # the labeller sees them mixed, not the uncertain last
    return [(rows[chosen[j][0]], chosen[j][1]) for j in order]


def refresh_queue(
    settings: Settings,
    since: dt.date,
    until: dt.date | None = None,
    size: int | None = None,
    random_share: float | None = None,
    seed: int | None = None,
) -> Refresh:
    """Add up to ``size`` items picked from the window [since, until] to the queue."""
    until = until or dt.datetime.now(dt.UTC).date()
    size = settings.label_queue_size if size is None else size
    share = settings.label_random_share if random_share is None else random_share
    rows = candidates(settings, since, until)
    fired = fired_dates(settings.results) & set(_dates(since, until))
    picked = pick(rows, size, share, settings.label_drift_share, fired, np.random.default_rng(seed))
    refresh = Refresh(candidates=len(rows), drift_dates=sorted(fired))
    for _, reason in picked:
        refresh.added[reason] = refresh.added.get(reason, 0) + 1
    refresh.path = add_items(
        settings.data,
        [
            {
                "item_id": row["prediction_id"],
                "text": row["text"],
                "picked": reason,
                "source": row["source"],
                "date": row["date"],
                "model_version": row.get("model_version"),
                "label": row.get("label"),
                "confidence": row["confidence"],
            }
            for row, reason in picked
        ],
    )
    return refresh
