"""The feedback store's index: every part's rows in one file, so a reader opens one file and the
few parts written since, not one file per `/feedback` call (20,000 parts took 17-19 s to read).

    data/feedback/.index.parquet   the rows of the parts it covers, with a `part` column; its
                                   metadata lists each covered part's (size, mtime) stamp

The parts themselves stay as they are: `retrain` names the parts a version learned from by their
checksums, so merging them would lose that lineage. A part whose stamp changed since (it never
should) is read again from its file. `sentiops feedback compact` (the daily CronJob) rewrites the
index; a reader that finds more than REINDEX_AFTER parts outside it rewrites it too, when it can
take the lock at once and write the folder (a read-only reader just reads the parts).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from sentiops.data.readers import CorruptInput, reading
from sentiops.files import replaced_atomically

log = logging.getLogger(__name__)

INDEX = ".index.parquet"
REINDEX_AFTER = 100  # about 0.1 s of reading small parts; rewriting the index costs about as much
Stamp = tuple[int, int]  # (size, mtime in ns)
_META = b"sentiops.parts"

# The index read once per process while its file is unchanged.
_cache: dict[str, tuple[Stamp, pa.Table, dict[str, Stamp]]] = {}


def index_path(folder: Path) -> Path:
    return folder / INDEX


def stamp(path: Path) -> Stamp:
    found = path.stat()
    return (found.st_size, found.st_mtime_ns)


def read_index(folder: Path) -> tuple[pa.Table | None, dict[str, Stamp]]:
    """The index's rows and the parts (name -> stamp) it covers; (None, {}) without a usable one."""
    path = index_path(folder)
    try:
        own = stamp(path)
    except FileNotFoundError:
        return None, {}
    cached = _cache.get(str(path))
    if cached is not None and cached[0] == own:
        return cached[1], cached[2]
    try:
        with reading(path):
            table = pq.read_table(path)
        covered = {name: (size, mtime) for name, (size, mtime) in json.loads(table.schema.metadata[_META]).items()}
    except (OSError, ValueError, KeyError, TypeError, CorruptInput) as exc:  # a broken index: a slower read
        log.warning("feedback index %s unusable (%s): reading the parts", path, exc)
        return None, {}
    table = table.replace_schema_metadata(None)
    _cache[str(path)] = (own, table, covered)
    return table, covered


def write_index(folder: Path, table: pa.Table, covered: dict[str, Stamp]) -> None:
    """Replace the index (temp file, renamed) with ``table``, the rows of the ``covered`` parts."""
    metadata = {_META: json.dumps(covered).encode()}
    with replaced_atomically(index_path(folder)) as tmp:
        pq.write_table(table.replace_schema_metadata(metadata), tmp)


def try_reindex(folder: Path, table: pa.Table, covered: dict[str, Stamp]) -> None:
    """Rewrite the index if no one else is at it and the folder can be written; else leave it."""
    try:
        with FileLock(str(folder / ".index.lock"), timeout=0):
            write_index(folder, table, covered)
    except (Timeout, OSError) as exc:
        log.debug("feedback index not rewritten: %s", exc)
