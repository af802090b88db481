"""Reading the feedback store: every label (its index and the parts written since), the one rule
for "the current label" of a text, and what the store holds now. Writing is data/feedback.py.

    data/feedback/part-0001.parquet ...               the labelled pool `data prepare` cut out
    data/feedback/<source>-<UTC stamp>-<token>.parquet   one part per API request or import
    data/feedback/.index.parquet                       every part's rows in one file (feedback_index.py)

Parts never change once written, so each is read once per process, the whole store is kept
while its folder does not change, and each text's dedup key is worked out once (a `key` column).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sentiops.data.feedback_index import REINDEX_AFTER, Stamp, read_index, try_reindex, write_index
from sentiops.data.readers import reading
from sentiops.text import dedup_key

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


def store_dir(data: Path) -> Path:
    return data / "feedback"


def _part_stamps(folder: Path) -> tuple[tuple[str, Stamp], ...]:
    """(name, stamp) of every part, by name: one scandir, no Path per part."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(".parquet") and not entry.name.startswith("."):
                info = entry.stat()
                found.append((entry.name, (info.st_size, info.st_mtime_ns)))
    return tuple(sorted(found))


def parts(data: Path) -> list[Path]:
    folder = store_dir(data)
    try:
        with os.scandir(folder) as entries:  # names sorted as strings: sorting 20,000 Paths took a second
            names = sorted(e.name for e in entries if e.name.endswith(".parquet") and not e.name.startswith("."))
    except FileNotFoundError:
        return []
    return [folder / name for name in names]


@dataclass(frozen=True)
class Held:
    label: int
    trusted: bool


@dataclass
class StoredLabels:
    current: dict[str, Held]  # dedup key -> the current label of that text
    id_keys: dict[str, str]  # prediction id of a current label -> its text's dedup key

    @property
    def ids(self) -> set[str]:
        return set(self.id_keys)

    @property
    def labels(self) -> dict[str, int]:
        return {key: held.label for key, held in self.current.items()}

    @property
    def trusted_ids(self) -> set[str]:
        return self.ids_where(trusted=True)

    @property
    def trusted_keys(self) -> set[str]:
        return {key for key, held in self.current.items() if held.trusted}

    def ids_where(self, trusted: bool) -> set[str]:
        return {pid for pid, key in self.id_keys.items() if self.current[key].trusted == trusted}


def stored_labels(data: Path) -> StoredLabels:
    """The current label of every text the store holds, and the prediction ids they came with."""
    table = current_labels(data).select(["key", "label", "trusted", "prediction_id"])
    current: dict[str, Held] = {}
    id_keys: dict[str, str] = {}
    for key, label, trusted, pid in zip(*(table.column(i).to_pylist() for i in range(4)), strict=True):
        current[key] = Held(int(label), bool(trusted))
        if pid:
            id_keys[pid] = key
    return StoredLabels(current, id_keys)


# Parts never change once written: each is read once per process (keyed by name, size and time).
_part_tables: dict[tuple[str, int, int], pa.Table] = {}
# The whole store, while no part changed (the Overview and the queue read it on every page).
# (folder stamp, when read, part stamps, all labels) per store folder
_store: dict[str, tuple[Stamp, float, tuple[tuple[str, Stamp], ...], pa.Table]] = {}
EMPTY = SCHEMA.append(pa.field("part", pa.string())).append(pa.field("key", pa.string())).empty_table()


def _read_store_part(part: Path, own: Stamp) -> pa.Table:
    key = (str(part), *own)
    if key not in _part_tables:
        with reading(part):
            table = pq.read_table(part)
        for column in SCHEMA:
            if column.name not in table.column_names:
                table = table.append_column(column.name, pa.nulls(table.num_rows, column.type))
        table = table.select(SCHEMA.names).cast(SCHEMA)
        table = table.append_column("part", pa.array([part.name] * table.num_rows, pa.string()))
        _part_tables[key] = with_keys(table)
    return _part_tables[key]


def with_keys(table: pa.Table) -> pa.Table:
    """``table`` with `key`, each text's dedup key, worked out once (the rule and the queue use it)."""
    if "key" in table.column_names:
        return table
    return table.append_column("key", pa.array([dedup_key(t) for t in table.column("text").to_pylist()], pa.string()))


def all_labels(data: Path) -> pa.Table:
    """Every label ever stored (SCHEMA's columns, nulls where a part predates them, `part`: the
    file it is in, and `key`: the text's dedup key), superseded ones included: the index's rows
    (data/feedback_index.py) and the parts written since."""
    return _loaded(data)[1]


def _loaded(data: Path) -> tuple[tuple[tuple[str, Stamp], ...], pa.Table]:
    """The parts (name, stamp) the store holds and their rows, read together: whoever indexes
    the rows names exactly the parts they came from."""
    folder = store_dir(data)
    try:
        info = folder.stat()
    except FileNotFoundError:
        return (), EMPTY
    listed = (info.st_ino, info.st_mtime_ns)  # a store swapped in by `data prepare` is another inode
    cached = _store.get(str(folder))
    # Parts are only ever added or removed, which moves the folder's mtime: an unchanged mtime, at
    # least 2 s older than when the store was last read (a coarse clock could hide a second
    # write in the same tick), means the same parts, without listing 20,000 of them again.
    if cached is not None and cached[0] == listed and cached[1] - listed[1] / 1e9 > 2:
        return cached[2], cached[3]
    stamps = _part_stamps(folder)
    if cached is not None and cached[2] == stamps:
        _store[str(folder)] = (listed, time.time(), stamps, cached[3])
        return stamps, cached[3]
    index, covered = read_index(folder)
    fresh = [(name, own) for name, own in stamps if covered.get(name) != own]
    tables = []
    if index is not None:
        current = {name for name, own in stamps if covered.get(name) == own}
        tables.append(with_keys(index).filter(pc.is_in(index.column("part"), pa.array(sorted(current), pa.string()))))
    tables += [_read_store_part(folder / name, own) for name, own in fresh]
    table = pa.concat_tables(tables).combine_chunks() if tables else EMPTY
    if len(fresh) > REINDEX_AFTER:
        try_reindex(folder, table, dict(stamps))
    _store[str(folder)] = (listed, time.time(), stamps, table)
    return stamps, table


def compact(data: Path) -> int:
    """Write the store's index afresh (`sentiops feedback compact`, the daily CronJob); returns the
    number of parts it covers."""
    stamps, table = _loaded(data)
    if stamps:
        write_index(store_dir(data), table, dict(stamps))
    return len(stamps)


_current: dict[str, tuple[pa.Table, pa.Table]] = {}  # store folder -> (all_labels' table, its current rows)


def current_labels(data: Path) -> pa.Table:
    """The current label of each text in the store (see `current_rows`), with SCHEMA's columns and
    `part`; worked out again only when a part has changed."""
    every = all_labels(data)
    cached = _current.get(str(data))
    if cached is None or cached[0] is not every:
        cached = _current[str(data)] = (every, current_rows(every))
    return cached[1]


def trusted_labels(data: Path) -> pa.Table:
    """The current labels that are trusted: the only evidence promotion, realized accuracy and the
    gate accept (what no API caller can forge)."""
    current = current_labels(data)
    return current.filter(pc.fill_null(current.column("trusted"), False))


def current_rows(table: pa.Table) -> pa.Table:
    """The one rule for "the current label" of a text, used by every reader (training, the trusted
    evaluation set, realized accuracy, live comparisons, the queue, the Label page): a trusted
    label beats an untrusted one whatever their times (no API caller can override a person's
    label); among labels of equal trust the newest wins (a relabel); rows without a time (the
    prepared pool) are the oldest. One row per text (its dedup key), in store order."""
    if table.num_rows == 0:
        return table
    if "key" in table.column_names:  # the store's tables carry each text's dedup key (with_keys)
        keys = table.column("key").to_pylist()
    else:
        keys = [dedup_key(text) for text in table.column("text").to_pylist()]
    trusted = pc.fill_null(table.column("trusted"), False).to_pylist()
    times = table.column("received_at").cast(pa.int64()).to_pylist()
    best: dict[str, tuple[bool, int, int]] = {}
    for i, (key, is_trusted, at) in enumerate(zip(keys, trusted, times, strict=True)):
        rank = (is_trusted, at if at is not None else -(2**62), i)
        if key not in best or rank > best[key]:
            best[key] = rank
    keep = sorted(rank[2] for rank in best.values())
    return table.take(pa.array(keep, pa.int64())) if len(keep) < table.num_rows else table
