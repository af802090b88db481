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

from sentiops.data.agreement import Agreement
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


@dataclass(frozen=True)
class _Current:
    every: pa.Table  # all_labels' table it was worked out from
    standing: Stamp | None  # the standing file's stamp then
    rows: pa.Table
    distrusted: frozenset[str]
    people: dict[str, dict[str, int]]  # text key -> person -> label, distrusted people left out
    everyone: dict[str, dict[str, int]]  # the same with distrusted people
    agreements: dict[str, Agreement]  # each labeller's kappa against the others


_current: dict[str, _Current] = {}  # store folder -> its current labels


def current_labels(data: Path) -> pa.Table:
    """The current label of each text in the store (see `current_rows`), with SCHEMA's columns and
    `part`; worked out again only when a part or the labellers' standing has changed."""
    return _worked_out(data).rows


def distrusted(data: Path) -> frozenset[str]:
    """Labellers whose agreement with the others is too low (data/agreement.py): their labels
    count as untrusted until an operator reinstates them."""
    return _worked_out(data).distrusted


def people_labels(data: Path, distrusted_too: bool = False) -> dict[str, dict[str, int]]:
    """Text (dedup key) -> {person: label}: each person's newest trusted label, but a distrusted
    labeller's unless ``distrusted_too`` (the queue asks who labelled an item, and whether they
    agree; nobody is offered an item they labelled, distrusted or not)."""
    found = _worked_out(data)
    return found.everyone if distrusted_too else found.people


def labeller_agreements(data: Path) -> dict[str, Agreement]:
    """Each labeller's agreement with the others (data/agreement.py), as worked out for the rule."""
    return _worked_out(data).agreements


def _worked_out(data: Path) -> _Current:
    from sentiops.config import get_settings
    from sentiops.data.agreement import agreements, flagged, ratings, reinstated, standing_file

    every = all_labels(data)
    try:
        info = standing_file(data).stat()
        standing: Stamp | None = (info.st_size, info.st_mtime_ns)
    except FileNotFoundError:
        standing = None
    cached = _current.get(str(data))
    if cached is None or cached.every is not every or cached.standing != standing:
        settings = get_settings()
        by_text = ratings(every)
        found = agreements(by_text, settings.label_min_overlaps)
        out = frozenset(flagged(found, reinstated(data), settings.label_min_kappa, settings.label_min_overlaps))
        people = {key: kept for key, who in by_text.items() if (kept := {p: y for p, y in who.items() if p not in out})}
        rows = current_rows(every, out)
        cached = _current[str(data)] = _Current(every, standing, rows, out, people, by_text, found)
    return cached


def trusted_labels(data: Path) -> pa.Table:
    """The current labels that are trusted: the only evidence promotion, realized accuracy and the
    gate accept (what no API caller can forge)."""
    current = current_labels(data)
    return current.filter(pc.fill_null(current.column("trusted"), False))


def current_rows(table: pa.Table, distrusted: frozenset[str] = frozenset()) -> pa.Table:
    """The one rule for "the current label" of a text, used by every reader (training, the trusted
    evaluation set, realized accuracy, live comparisons, the queue, the Label page):

    - a trusted label beats an untrusted one whatever their times (no API caller can override a
      person's label); the labels of a ``distrusted`` labeller count as untrusted;
    - where several people labelled a text, each counts once (their newest label) and the majority
      wins; without a majority the text has no trusted label (it counts for neither side);
    - among labels of equal standing the newest wins (a relabel); rows without a time (the
      prepared pool) are the oldest.

    One row per text (its dedup key), in store order; the row of a trusted label is marked trusted
    only if its labeller is not distrusted."""
    if table.num_rows == 0:
        return table
    if "key" in table.column_names:  # the store's tables carry each text's dedup key (with_keys)
        keys = table.column("key").to_pylist()
    else:
        keys = [dedup_key(text) for text in table.column("text").to_pylist()]
    trusted = pc.fill_null(table.column("trusted"), False).to_pylist()
    has_names = "labelled_by" in table.column_names
    names = table.column("labelled_by").to_pylist() if has_names else [None] * table.num_rows
    labels = table.column("label").to_pylist()
    times = table.column("received_at").cast(pa.int64()).to_pylist()
    untrusted: dict[str, tuple[int, int]] = {}  # key -> (time, row) of its newest untrusted label
    people: dict[str, dict[str, tuple[int, int]]] = {}  # key -> person -> (time, row) of their newest
    for i, (key, is_trusted, name, at) in enumerate(zip(keys, trusted, names, times, strict=True)):
        rank = (at if at is not None else -(2**62), i)
        person = name or ""
        if is_trusted and person not in distrusted:
            mine = people.setdefault(key, {})
            if person not in mine or rank > mine[person]:
                mine[person] = rank
        elif key not in untrusted or rank > untrusted[key]:
            untrusted[key] = rank
    keep = []
    for key in dict.fromkeys(keys):
        chosen = _majority(people[key], labels) if key in people else None
        if chosen is None and key in untrusted:
            chosen = untrusted[key][1]
        if chosen is not None:
            keep.append(chosen)
    keep.sort()
    current = table.take(pa.array(keep, pa.int64())) if len(keep) < table.num_rows else table
    if distrusted and has_names:  # a distrusted labeller's label that stands (nothing better) is untrusted now
        by = current.column("labelled_by").to_pylist()
        marks = pc.fill_null(current.column("trusted"), False).to_pylist()
        fixed = [mark and (name or "") not in distrusted for mark, name in zip(marks, by, strict=True)]
        current = current.set_column(current.schema.get_field_index("trusted"), "trusted", pa.array(fixed))
    return current


def _majority(raters: dict[str, tuple[int, int]], labels: list[int]) -> int | None:
    """The row of the label most people gave (the newest such row), or None without a majority."""
    if len(raters) == 1:
        return next(iter(raters.values()))[1]
    votes: dict[int, list[tuple[int, int]]] = {}
    for rank in raters.values():
        votes.setdefault(labels[rank[1]], []).append(rank)
    ranks = max(votes.values(), key=len)
    if len(ranks) * 2 <= len(raters):
        return None
    return max(ranks)[1]
