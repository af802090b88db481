"""The feedback store: labels people sent back, as parts that `retrain` reads.

    data/feedback/part-0001.parquet ...               the labelled pool `data prepare` cut out
    data/feedback/<source>-<UTC stamp>-<token>.parquet   one part per API request or import
    data/feedback/rejects/<same name>.parquet          every refused row with its reason

A part is written under a temporary name and renamed, so an import that fails half-way leaves
the store as it was. Each label carries its provenance: source, received time, the prediction it
labels and the model version that made it (when known), and how it was picked (`random`: an
unbiased sample of traffic, which grades realized accuracy; anything else was chosen, e.g. for
being uncertain). A second label for the same prediction id replaces the first (a relabel): the
newest one wins wherever the store is read.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sentiops.data.labels import LABEL2ID, LABELS
from sentiops.data.predictions import batch_date_of, find
from sentiops.data.readers import reading
from sentiops.data.store import read_split
from sentiops.files import replaced_atomically
from sentiops.text import dedup_key, text_problem
from sentiops.volume import DateFiles

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("label", pa.int8()),
        ("source", pa.string()),
        ("received_at", pa.timestamp("ms", tz="UTC")),
        ("prediction_id", pa.string()),
        ("model_version", pa.string()),
        ("picked", pa.string()),
        # Labels people gave through the Label page or an import marked --trusted: the gate's
        # evidence comes from these (never from what any API caller can send).
        ("trusted", pa.bool_()),
        ("labelled_by", pa.string()),
    ]
)
REJECT_SCHEMA = pa.schema([("row", pa.string()), ("reason", pa.string()), ("raw", pa.string())])
MAX_TEXT_CHARS = 1000


@dataclass
class Label:
    label: str  # a class name: negative / positive
    text: str | None = None
    prediction_id: str | None = None
    source: str = "api"
    picked: str = "random"
    row: str = ""  # where it came from (line, item index), for the rejects
    problem: str | None = None  # found while reading it (a malformed row, an unknown label)
    trusted: bool = False
    labelled_by: str | None = None


@dataclass
class Outcome:
    accepted: int = 0
    relabels: int = 0
    duplicates: int = 0  # the same text with the same label again: kept once
    conflicts: int = 0  # one text with both labels in what was sent: held out
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (row, reason)
    part: Path | None = None
    unknown_ids: list[str] = field(default_factory=list)  # ids neither the log nor the scores hold


def store_dir(data: Path) -> Path:
    return data / "feedback"


def parts(data: Path) -> list[Path]:
    return sorted(p for p in store_dir(data).glob("*.parquet") if not p.name.startswith("."))


def add_labels(
    data: Path,
    results: Path,
    labels: list[Label],
    max_text_chars: int = MAX_TEXT_CHARS,
    all_ids_known: bool = False,
    found: dict[str, dict] | None = None,
) -> Outcome:
    """Validate ``labels`` as training data is validated and write the good ones as one new part.

    ``all_ids_known``: store nothing at all when a prediction id is unknown (the API answers 404
    then); otherwise such labels are rejected one by one, as any other bad row. ``found``: the
    predictions of some ids (text, model version) the caller already holds (the labelling
    queue's items), so that they are not looked up in the log and the day's scores again."""
    outcome = Outcome()
    known = dict(found or {})
    ids = [x.prediction_id for x in labels if x.prediction_id and x.prediction_id not in known]
    known.update(find(results, ids))
    known.update(batch_rows(results, [i for i in ids if i not in known]))
    if all_ids_known and (unknown := [i for i in ids if i not in known]):
        return Outcome(unknown_ids=unknown)
    protected = protected_keys(data)
    stored = stored_labels(data)
    good: list[tuple[Label, str, str | None]] = []  # label, text, model version
    for item in labels:
        text, version = item.text, None
        if item.prediction_id:
            prediction = known.get(item.prediction_id)
            if prediction is None:
                outcome.unknown_ids.append(item.prediction_id)
                outcome.rejected.append((item.row, f"unknown prediction id {item.prediction_id!r}"))
                continue
            version = prediction.get("model_version")
            if text is None:
                text = prediction.get("text")
            if text is None:
                outcome.rejected.append((item.row, "the prediction was logged without its text (hash only)"))
                continue
        reason = _problem(item, text, max_text_chars, protected)
        if reason:
            outcome.rejected.append((item.row, reason))
            continue
        assert text is not None
        good.append((item, text, version))

    by_key: dict[str, list[tuple[Label, str, str | None]]] = {}
    for entry in good:
        by_key.setdefault(dedup_key(entry[1]), []).append(entry)
    kept: list[tuple[Label, str, str | None]] = []
    for key, entries in by_key.items():
        names = {e[0].label for e in entries}
        relabel = any(e[0].prediction_id and e[0].prediction_id in stored.ids for e in entries)
        if len(names) > 1:
            outcome.conflicts += len(entries)
            outcome.rejected += [(e[0].row, "conflicting labels for one text in this input: held out") for e in entries]
            continue
        if not relabel and key in stored.labels and stored.labels[key] != LABEL2ID[entries[0][0].label]:
            outcome.conflicts += len(entries)
            outcome.rejected += [(e[0].row, "the store has this text with the other label: held out") for e in entries]
            continue
        if not relabel and key in stored.labels:
            outcome.duplicates += len(entries)
            continue
        outcome.duplicates += len(entries) - 1
        outcome.relabels += int(relabel)
        kept.append(entries[-1])
    outcome.accepted = len(kept)
    source = labels[0].source if labels else "api"
    name = f"{_safe(source)}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.parquet"
    if kept:
        outcome.part = store_dir(data) / name
        _write_part(outcome.part, kept)
    if outcome.rejected:
        _write_rejects(store_dir(data) / "rejects" / name, outcome.rejected, labels)
    return outcome


def _problem(item: Label, text: str | None, max_chars: int, protected: set[str]) -> str | None:
    if item.problem:
        return item.problem
    if item.label not in LABELS:
        return f"unknown label {item.label!r}: expected one of {', '.join(LABELS)}"
    if not isinstance(text, str):
        return "no text and no prediction id"
    problem = text_problem(text)
    if problem:
        return problem
    if len(text) > max_chars:
        return f"text has {len(text)} characters; the limit is {max_chars}"
    if dedup_key(text) in protected:
        return "the text is in the holdout or validation split: the gate's evidence must stay unseen"
    return None


@dataclass
class StoredLabels:
    ids: set[str]
    labels: dict[str, int]  # dedup key -> label of what the store holds


# Parts never change once written, so what each holds is read once per process.
_part_cache: dict[tuple[str, float], StoredLabels] = {}


def stored_labels(data: Path) -> StoredLabels:
    """The prediction ids and texts (dedup keys, with their labels) the store holds."""
    ids: set[str] = set()
    labels: dict[str, int] = {}
    for part in parts(data):
        key = (str(part), part.stat().st_mtime)
        if key not in _part_cache:
            with reading(part):
                table = pq.read_table(part)
            held = StoredLabels(set(), {})
            if "prediction_id" in table.column_names:
                held.ids.update(i for i in table.column("prediction_id").to_pylist() if i)
            for text, label in zip(table.column("text").to_pylist(), table.column("label").to_pylist(), strict=True):
                held.labels[dedup_key(text)] = int(label)
            _part_cache[key] = held
        ids |= _part_cache[key].ids
        labels.update(_part_cache[key].labels)
    return StoredLabels(ids, labels)


_protected_cache: dict[tuple[str, float], set[str]] = {}


def protected_keys(data: Path) -> set[str]:
    """Cleaned texts of the holdout and validation splits (cached per data manifest)."""
    manifest = data / "manifest.json"
    key = (str(data), manifest.stat().st_mtime if manifest.is_file() else 0.0)
    if key not in _protected_cache:
        found: set[str] = set()
        for split in ("holdout", "validation"):
            try:
                found.update(dedup_key(t) for t in read_split(data, split).column("text").to_pylist())
            except FileNotFoundError:
                continue
        _protected_cache.clear()
        _protected_cache[key] = found
    return _protected_cache[key]


def batch_rows(results: Path, prediction_ids: list[str]) -> dict[str, dict]:
    """The scored batch rows with these ids (text, model version)."""
    by_date: dict[str, set[str]] = {}
    for pid in prediction_ids:
        if (date := batch_date_of(pid)) is not None:
            by_date.setdefault(date, set()).add(pid)
    found: dict[str, dict] = {}
    for date, ids in by_date.items():
        folder = DateFiles(results, date).scores
        if not folder.is_dir():
            continue
        with reading(folder):
            table = pq.read_table(folder, columns=["prediction_id", "text", "model_version"])
        table = table.filter(pc.is_in(table.column("prediction_id"), pa.array(sorted(ids))))
        found.update({row["prediction_id"]: row for row in table.to_pylist()})
    return found


def _write_part(path: Path, kept: list[tuple[Label, str, str | None]]) -> None:
    now = dt.datetime.now(dt.UTC)
    table = pa.table(
        {
            "id": [item.prediction_id or f"{path.stem}:{item.row}" for item, _, _ in kept],
            "text": [text for _, text, _ in kept],
            "label": [LABEL2ID[item.label] for item, _, _ in kept],
            "source": [item.source for item, _, _ in kept],
            "received_at": [now] * len(kept),
            "prediction_id": [item.prediction_id for item, _, _ in kept],
            "model_version": [version for _, _, version in kept],
            "picked": [item.picked for item, _, _ in kept],
            "trusted": [item.trusted for item, _, _ in kept],
            "labelled_by": [item.labelled_by for item, _, _ in kept],
        },
        schema=SCHEMA,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as tmp:
        pq.write_table(table, tmp)


def _write_rejects(path: Path, rejected: list[tuple[str, str]], labels: list[Label]) -> None:
    raw = {item.row: repr(item)[:2000] for item in labels}
    table = pa.table(
        {
            "row": [r for r, _ in rejected],
            "reason": [why for _, why in rejected],
            "raw": [raw.get(r, "") for r, _ in rejected],
        },
        schema=REJECT_SCHEMA,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as tmp:
        pq.write_table(table, tmp)


def _safe(source: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in source)[:40] or "feedback"


def current_labels(data: Path) -> pa.Table:
    """Every label in the store, newest label per prediction id only (relabels replace): the
    columns of SCHEMA, with nulls where a part predates them (the prepared pool)."""
    tables = []
    for part in parts(data):
        with reading(part):
            table = pq.read_table(part)
        for column in SCHEMA:
            if column.name not in table.column_names:
                table = table.append_column(column.name, pa.nulls(table.num_rows, column.type))
        tables.append(table.select(SCHEMA.names).cast(SCHEMA))
    if not tables:
        return SCHEMA.empty_table()
    table = pa.concat_tables(tables)
    return drop_superseded(table)


def drop_superseded(table: pa.Table) -> pa.Table:
    """Keep, for each prediction id, only its newest label (rows without an id are all kept)."""
    if "prediction_id" not in table.column_names or table.num_rows == 0:
        return table
    ids = table.column("prediction_id").to_pylist()
    times = table.column("received_at").to_pylist() if "received_at" in table.column_names else [None] * len(ids)
    newest: dict[str, int] = {}
    for i, (pid, at) in enumerate(zip(ids, times, strict=True)):
        if pid is None:
            continue
        j = newest.get(pid)
        if j is None or (at is not None and (times[j] is None or at >= times[j])):
            newest[pid] = i
    keep = [i for i, pid in enumerate(ids) if pid is None or newest[pid] == i]
    return table.take(pa.array(keep, pa.int64())) if len(keep) < len(ids) else table


def read_part(path: Path, newest: dict[str, Any] | None = None) -> pa.Table:
    """A part's (id, text, label, trusted) rows for training, without the labels a newer one replaced
    (``newest``: `newest_label_times` of the whole store)."""
    with reading(path):
        table = pq.read_table(path)
    if newest and "prediction_id" in table.column_names and "received_at" in table.column_names:
        ids, times = table.column("prediction_id").to_pylist(), table.column("received_at").to_pylist()
        keep = [i for i, (pid, at) in enumerate(zip(ids, times, strict=True)) if pid is None or newest.get(pid) == at]
        table = table.take(pa.array(keep, pa.int64()))
    trusted = table.column("trusted") if "trusted" in table.column_names else pa.nulls(table.num_rows, pa.bool_())
    table = table.select(["id", "text", "label"]).append_column("trusted", pc.fill_null(trusted, False))
    return table


def newest_label_times(data: Path) -> dict[str, Any]:
    """When the newest label of each prediction id arrived (relabels replace older labels)."""
    newest: dict[str, Any] = {}
    for part in parts(data):
        with reading(part):
            names = pq.ParquetFile(part).schema_arrow.names
            if "prediction_id" not in names or "received_at" not in names:
                continue
            table = pq.read_table(part, columns=["prediction_id", "received_at"])
        for pid, at in zip(
            table.column("prediction_id").to_pylist(), table.column("received_at").to_pylist(), strict=True
        ):
            if pid is not None and (pid not in newest or at >= newest[pid]):
                newest[pid] = at
    return newest


def counts(outcome: Outcome) -> dict[str, int]:
    reasons = Counter(why.split(":")[0] for _, why in outcome.rejected)
    return {
        "accepted": outcome.accepted,
        "relabels": outcome.relabels,
        "duplicates": outcome.duplicates,
        "conflicts": outcome.conflicts,
        "rejected": len(outcome.rejected),
        **{f"rejected: {k}": v for k, v in reasons.items()},
    }
