"""`sentiops label queue`: which tweets people should label next.

Three kinds, each item keeping why it was picked:
- random: a uniform sample of the traffic. Only these grade realized accuracy without bias
  (a share of the queue, 30% by default, is always random);
- drift: tweets of days whose drift checks fired (what changed is what the model knows least);
- uncertain: the lowest calibrated confidence (where a label teaches the model most).

Candidates are the API's prediction log and the batch scores of the dates asked for; never a text
the store already holds a label for, never one queued before, never holdout or validation text.
The window is streamed: memory follows the queue's size, not the day's rows.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from filelock import FileLock

from sentiops.config import Settings
from sentiops.data.feedback import protected_keys
from sentiops.data.feedback_reader import stored_labels
from sentiops.data.predictions import ANSWERED_ROLES, log_files
from sentiops.data.readers import reading
from sentiops.evaluation.calibration import calibrate
from sentiops.labelling.queue import add_items, all_items, queue_dir
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


COLUMNS = ["prediction_id", "model_version", "label", "confidence", "text"]


def _chunks(results: Path, date: str, chunk_rows: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The date's predictions, chunk by chunk: the API's log (answers callers got, not shadow rows),
    then the batch scores."""
    files = [("api", f) for f in log_files(results, date)]
    files += [("batch", f) for f in DateFiles(results, date).score_files]
    for source, path in files:
        with reading(path):
            parquet = pq.ParquetFile(path)
            columns = COLUMNS + (["role"] if "role" in parquet.schema_arrow.names else [])
            for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
                rows = [r for r in batch.to_pylist() if r["text"] and r.get("role") in (None, *ANSWERED_ROLES)]
                yield source, rows


def fired_dates(results: Path) -> set[str]:
    """Dates whose drift check ended in warning or drift."""
    path = drift_history(results)
    if not path.is_file():
        return set()
    with reading(path):
        table = pq.read_table(path, columns=["date", "status"])
    return {d for d, s in zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True) if s in FIRED}


class _Smallest:
    """The ``k`` rows of smallest priority seen so far (a bounded max-heap)."""

    def __init__(self, k: int) -> None:
        self.k, self._heap, self._n = k, [], 0  # type: ignore[var-annotated]

    def push(self, priority: float, row: dict[str, Any]) -> None:
        self._n += 1
        item = (-priority, self._n, row)
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, item)
        elif self.k and item > self._heap[0]:
            heapq.heapreplace(self._heap, item)

    def rows(self) -> list[dict[str, Any]]:
        return [row for _, _, row in self._heap]


class _Temperatures:
    """Each version's calibration, read once (a version pruned since ranks on its raw confidence)."""

    def __init__(self, registry: Registry) -> None:
        self.registry, self.found = registry, {}  # type: ignore[var-annotated]

    def _of(self, version: str) -> tuple[float | None, int]:
        """(temperature, number of classes) of a version."""
        if version not in self.found:
            try:
                folder = self.registry.folder(version)
                self.found[version] = (folder.metrics().temperature, len(folder.labels().labels))
            except Exception:
                self.found[version] = (None, 2)
        return self.found[version]

    def calibrate_rows(self, rows: list[dict[str, Any]]) -> None:
        """Each row's confidence through its version's temperature, a chunk's rows per version at once."""
        by_version: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_version.setdefault(row.get("model_version") or "", []).append(row)
        for version, group in by_version.items():
            raw = np.array([0.5 if r.get("confidence") is None else float(r["confidence"]) for r in group])
            temperature, classes = self._of(version) if version else (None, 2)
            # Only the top score is logged: the rest is spread evenly over the other classes (exact
            # for two classes; for three, the ranking by uncertainty is what matters, and it holds).
            rest = np.repeat(((1 - raw) / (classes - 1))[:, None], classes - 1, axis=1)
            spread = np.concatenate([raw[:, None], rest], axis=1)
            scaled = calibrate(spread, temperature).max(axis=1) if temperature else raw
            for row, value in zip(group, scaled.tolist(), strict=True):
                row["confidence"] = value


def candidates(
    settings: Settings, since: dt.date, until: dt.date, size: int, fired: set[str], rng: np.random.Generator
) -> tuple[list[dict[str, Any]], int]:
    """The rows of the window any pick of ``size`` can take (at most 3 x size), and how many rows
    may be queued at all: one per text, none labelled, queued or protected. The window is read
    chunk by chunk, so memory follows ``size``, not the day (a million-row day included)."""
    stored = stored_labels(settings.data)
    trusted_ids = stored.trusted_ids  # an API label never keeps a tweet from people
    excluded = (
        protected_keys(settings.data) | stored.trusted_keys | {dedup_key(i.text) for i in all_items(settings.data)}
    )
    temperatures = _Temperatures(Registry(settings.registry))
    # Random picks are the smallest random keys; drift picks the smallest among fired days; the
    # uncertain ones the lowest calibrated confidences. Keeping `size` of each is enough for pick().
    by_key, on_fired, uncertain = _Smallest(size), _Smallest(size), _Smallest(size)
    seen: set[int] = set()
    eligible = 0
    for date in _dates(since, until):
        for source, rows in _chunks(settings.results, date, settings.batch_chunk_rows):
            eligible_rows = []
            for row in rows:
                key = dedup_key(row["text"])
                marker = hash(key)
                if not key or marker in seen or key in excluded or row["prediction_id"] in trusted_ids:
                    continue
                seen.add(marker)
                eligible += 1
                row.update(source=source, date=date, random_key=float(rng.random()))
                eligible_rows.append(row)
            temperatures.calibrate_rows(eligible_rows)
            for row in eligible_rows:
                by_key.push(row["random_key"], row)
                uncertain.push(row["confidence"], row)
                if date in fired:
                    on_fired.push(row["random_key"], row)
    kept = {row["prediction_id"]: row for part in (by_key, on_fired, uncertain) for row in part.rows()}
    return list(kept.values()), eligible


def pick(
    rows: list[dict[str, Any]],
    size: int,
    random_share: float,
    drift_share: float,
    fired: set[str],
    rng: np.random.Generator,
) -> list[tuple[dict[str, Any], str]]:
    """Random first (its share of ``size``, the smallest random keys), then tweets of fired days,
    then the most uncertain; never more than ``size``."""
    for row in rows:
        row.setdefault("random_key", float(rng.random()))
    left = sorted(range(len(rows)), key=lambda i: rows[i]["random_key"])
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
    """Add up to ``size`` items picked from the window [since, until] to the queue. One refresh at
    a time (a file lock on the queue folder): two at once would both see the same tweets as not
    yet queued and add them twice. A second one waits for the first (at most 10 minutes)."""
    queue_dir(settings.data).mkdir(parents=True, exist_ok=True)
    with FileLock(str(queue_dir(settings.data) / ".refresh.lock"), timeout=600):
        return _refresh(settings, since, until, size, random_share, seed)


def _refresh(
    settings: Settings,
    since: dt.date,
    until: dt.date | None,
    size: int | None,
    random_share: float | None,
    seed: int | None,
) -> Refresh:
    until = until or dt.datetime.now(dt.UTC).date()
    size = settings.label_queue_size if size is None else size
    share = settings.label_random_share if random_share is None else random_share
    fired = fired_dates(settings.results) & set(_dates(since, until))
    rng = np.random.default_rng(seed)
    rows, eligible = candidates(settings, since, until, size, fired, rng)
    picked = pick(rows, size, share, settings.label_drift_share, fired, rng)
    refresh = Refresh(candidates=eligible, drift_dates=sorted(fired))
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
