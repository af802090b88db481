"""The prepared data store on the volume: its schemas and how to read its splits."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sentiops.data.readers import reading
from sentiops.files import sha256_file

# Rows that could not be used: the row's id, why, and the raw value (truncated) for inspection.
REJECT_SCHEMA = pa.schema([("row_id", pa.string()), ("reason", pa.string()), ("raw", pa.string())])


def manifest_hash(data_dir: Path) -> str | None:
    path = data_dir / "manifest.json"
    return sha256_file(path) if path.is_file() else None


def read_split(data_dir: Path, name: str) -> pa.Table:
    path = data_dir / f"{name}.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `sentiops data prepare` first")
    with reading(path):
        return pq.read_table(path)
