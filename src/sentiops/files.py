"""Small file helpers every stage shares: checksums and atomic JSON writes."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: object) -> None:
    """Write to a temp file in the same folder, fsync, then rename over the target."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; other pods and users read these files
        os.replace(tmp, path)
        fsync_dir(path.parent)  # the rename itself survives a crash
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def append_line(path: Path, line: str) -> int:
    """Append one line durably (file and folder fsynced); returns the file's size before, so a
    caller can take the line back with `truncate` when the step it records fails. A failed
    append (a full disk) leaves the file as it was: no torn line stays behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        size = handle.tell()
        # A torn tail (a writer killed mid-line) must not swallow this record: start a new line.
        torn = size > 0 and _last_byte(handle, size) != b"\n"
        try:
            handle.write((b"\n" if torn else b"") + line.rstrip("\n").encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.truncate(size)
            raise
    fsync_dir(path.parent)
    return size


def _last_byte(handle: IO[bytes], size: int) -> bytes:
    handle.seek(size - 1)
    last = handle.read(1)
    handle.seek(size)
    return last


def truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(size)
        os.fsync(handle.fileno())


def read_json_lines(path: Path) -> list[dict]:
    """Every record (JSON object) of a JSON-lines file. A line that is not one (a torn line left by
    a writer killed mid-append, a hand edit gone wrong) is skipped and counted in a warning, never
    an error: one bad line must not hide every record after it from a reader."""
    if not path.exists():
        return []
    if not path.is_file():  # something else in its place: a fault to report, not "no records"
        raise IsADirectoryError(errno.EISDIR, "not a JSON-lines file", str(path))
    records, bad = [], 0
    for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            bad += 1
    if bad:
        log.warning("%s: skipped %d line(s) that are not JSON objects", path, bad)
    return records


@contextmanager
def replaced_atomically(path: Path, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temp path beside ``path`` to write; on success it is fsynced, given ``mode`` and
    renamed over ``path``, on any failure (a full disk, a kill) it is removed and ``path`` is
    untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per writer, not per process: in containers every process is PID 1, and two writers of
    # one file (a CLI drift check and the batch job's) must not share a temp file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
