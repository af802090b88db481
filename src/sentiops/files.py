"""Small file helpers every stage shares: checksums and atomic JSON writes."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    with open(path, "ab") as handle:
        size = handle.tell()
        try:
            handle.write(line.rstrip("\n").encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.truncate(size)
            raise
    fsync_dir(path.parent)
    return size


def truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(size)
        os.fsync(handle.fileno())


def read_json_lines(path: Path) -> list[dict]:
    """Every record of a JSON-lines file; a torn final line (a writer killed mid-append) is skipped
    with a warning, any other bad line is an error."""
    if not path.is_file():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    records = []
    for i, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except ValueError:
            if i < len(lines) - 1:
                raise
            log.warning("%s: skipped a torn last line (%d bytes)", path, len(line))
    return records


@contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path`` to write; on success it is fsynced and renamed over
    ``path``, on any failure (a full disk, a kill) it is removed and ``path`` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per writer, not per process: in containers every process is PID 1, and two writers of
    # one file (a CLI drift check and the batch job's) must not share a temp file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
