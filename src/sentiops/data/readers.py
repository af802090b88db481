"""Streaming readers for CSV (official Sentiment140 layout or headed), JSONL and Parquet.

Every reader yields chunks of (records, rejects) so that memory stays bounded whatever the
input size, and a row that cannot be read becomes a reject with a reason instead of an error.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from sentiops.text import text_problem

OFFICIAL_COLUMNS = ("target", "id", "date", "query", "user", "text")
TEXT_COLUMNS = ("text", "tweet", "content")
LABEL_COLUMNS = ("target", "label", "sentiment", "polarity")
ID_COLUMNS = ("id", "tweet_id", "row_id")
SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json", ".parquet")

csv.field_size_limit(10_000_000)


class InputError(ValueError):
    """An input that cannot be read at all (missing, unknown format, no text column)."""


class CorruptInput(RuntimeError):
    """A file of a known format whose bytes are broken (a truncated or garbled Parquet file).

    Not a ValueError: commands report it as a failure (exit 1) naming the file, not as a usage
    error, although pyarrow's own error (ArrowInvalid) is a ValueError."""


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn pyarrow's errors while reading ``path`` into CorruptInput, with the file named."""
    try:
        yield
    except (pa.ArrowException, EOFError) as exc:
        raise CorruptInput(f"{path}: corrupt or unreadable file ({exc})") from exc


@dataclass(frozen=True)
class Record:
    row_id: str
    text: str
    label: object | None = None


@dataclass(frozen=True)
class Reject:
    row_id: str
    reason: str
    raw: str


Chunk = tuple[list[Record], list[Reject]]


def file_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return "jsonl" if suffix in (".jsonl", ".ndjson", ".json") else suffix[1:]
    raise InputError(f"{path}: unsupported format (expected one of {', '.join(SUFFIXES)})")


def expand_inputs(spec: str | Path) -> list[Path]:
    """A file, a folder (its supported files, sorted) or a glob, as a sorted list of files."""
    path = Path(spec)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _supported(p))
    else:
        files = sorted(Path(p) for p in glob.glob(str(spec), recursive=True) if _supported(Path(p)))
    if not files:
        raise InputError(f"no readable input at {spec}")
    return files


def _supported(path: Path) -> bool:
    try:
        file_format(path)
    except InputError:
        return False
    return path.is_file()


def _open_binary(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # GzipFile is a binary IO
    return open(path, "rb")


def open_text(path: Path) -> IO[str]:
    """A CSV or JSONL file (gzipped or not) as UTF-8 text (undecodable bytes replaced)."""
    return io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", errors="replace", newline="")


def iter_chunks(path: Path, chunk_rows: int = 4096) -> Iterator[Chunk]:
    """Yield (records, rejects) chunks of at most ``chunk_rows`` input rows each.

    Chunk boundaries depend only on the file and ``chunk_rows``, so chunk k is the same rows
    on every run: the batch job relies on that to shard and to resume.
    """
    fmt = file_format(path)
    rows = {"csv": _csv_rows, "jsonl": _jsonl_rows, "parquet": _parquet_rows}[fmt](path)
    records: list[Record] = []
    rejects: list[Reject] = []
    for item in rows:
        if isinstance(item, Record):
            records.append(item)
        else:
            rejects.append(item)
        if len(records) + len(rejects) >= chunk_rows:
            yield records, rejects
            records, rejects = [], []
    if records or rejects:
        yield records, rejects


def _is_official(first_line: bytes) -> bool:
    try:
        fields = next(csv.reader([first_line.decode("latin-1")]))
    except (csv.Error, StopIteration):
        return False
    return len(fields) == 6 and fields[0].strip() in {"0", "2", "4"} and fields[1].isdigit()


def _pick(columns: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [c.strip().lower() for c in columns]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def _csv_rows(path: Path) -> Iterator[Record | Reject]:
    with _open_binary(path) as raw:
        first = raw.readline()
    official = _is_official(first)
    # The official files are Latin-1 (every byte decodes); anything else must be UTF-8, and
    # bytes that are not become lone surrogates that we turn into rejects below.
    encoding, errors = ("latin-1", "strict") if official else ("utf-8-sig", "surrogateescape")
    with _open_binary(path) as raw:
        stream = io.TextIOWrapper(raw, encoding=encoding, errors=errors, newline="")
        reader = csv.reader(stream)
        columns = list(OFFICIAL_COLUMNS) if official else next(reader, [])
        text_i, label_i, id_i = (_pick(columns, n) for n in (TEXT_COLUMNS, LABEL_COLUMNS, ID_COLUMNS))
        if text_i is None:
            raise InputError(f"{path}: no text column (looked for {', '.join(TEXT_COLUMNS)})")
        line = 0
        while True:
            line += 1
            row_id = f"{path.name}:{line}"
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Reject(row_id, f"malformed CSV: {exc}", "")
                continue
            raw_line = ",".join(fields)
            if any(_has_surrogates(f) for f in fields):
                yield Reject(row_id, "undecodable bytes (not UTF-8)", _printable(raw_line))
                continue
            if len(fields) != len(columns):
                yield Reject(row_id, f"malformed row: {len(fields)} fields, expected {len(columns)}", raw_line)
                continue
            if id_i is not None and fields[id_i].strip():
                row_id = fields[id_i].strip()
            yield _record(row_id, fields[text_i], None if label_i is None else fields[label_i], raw_line)


def _jsonl_rows(path: Path) -> Iterator[Record | Reject]:
    with _open_binary(path) as raw:
        for line, data in enumerate(raw, start=1):
            row_id = f"{path.name}:{line}"
            if not data.strip():
                continue
            try:
                obj = json.loads(data.decode("utf-8-sig"))
            except UnicodeDecodeError:
                yield Reject(row_id, "undecodable bytes (not UTF-8)", _printable(data.decode("utf-8", "replace")))
                continue
            except json.JSONDecodeError as exc:
                yield Reject(row_id, f"malformed JSON: {exc.msg}", data.decode("utf-8", "replace")[:2000])
                continue
            if not isinstance(obj, dict):
                yield Reject(row_id, "malformed JSON: not an object", data.decode()[:2000])
                continue
            yield _record_from_mapping(obj, row_id, data.decode()[:2000])


def _parquet_rows(path: Path) -> Iterator[Record | Reject]:
    with reading(path):
        parquet = pq.ParquetFile(path)
    names = parquet.schema_arrow.names
    text_i, label_i, id_i = (_pick(names, n) for n in (TEXT_COLUMNS, LABEL_COLUMNS, ID_COLUMNS))
    if text_i is None:
        raise InputError(f"{path}: no text column (looked for {', '.join(TEXT_COLUMNS)})")
    wanted = [names[i] for i in (text_i, label_i, id_i) if i is not None]
    line = 0
    batches = parquet.iter_batches(batch_size=8192, columns=wanted)
    while True:
        with reading(path):  # a broken page shows only when its batch is read
            batch = next(batches, None)
        if batch is None:
            break
        for row in batch.to_pylist():
            line += 1
            lowered = {k.lower(): v for k, v in row.items()}
            yield _record_from_mapping(lowered, f"{path.name}:{line}", json.dumps(row, default=str)[:2000])


def _record_from_mapping(obj: dict[str, Any], row_id: str, raw: str) -> Record | Reject:
    text = next((obj[k] for k in TEXT_COLUMNS if k in obj), None)
    label = next((obj[k] for k in LABEL_COLUMNS if k in obj), None)
    ident = next((obj[k] for k in ID_COLUMNS if obj.get(k) not in (None, "")), None)
    if ident is not None:
        row_id = str(ident)
    if text is None:
        return Reject(row_id, "missing text", raw)
    if not isinstance(text, str):
        return Reject(row_id, f"text is not a string ({type(text).__name__})", raw)
    return _record(row_id, text, label, raw)


def _record(row_id: str, text: str, label: object | None, raw: str) -> Record | Reject:
    problem = text_problem(text)
    if problem is not None:
        return Reject(row_id, problem, _printable(raw))
    return Record(row_id, text, label)


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _printable(value: str) -> str:
    """Keep undecodable bytes and lone surrogates visible in a rejects file as escapes (Parquet
    strings must be valid UTF-8)."""
    try:
        data = value.encode("utf-8", "surrogateescape")  # bytes that were not UTF-8 -> \\xNN
    except UnicodeEncodeError:
        data = value.encode("utf-8", "backslashreplace")  # lone surrogates from JSON -> \\udNNN
    return data.decode("utf-8", "backslashreplace")[:2000]
