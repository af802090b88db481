"""The prediction log on the volume: its schema, its ids and files, retention, and reading it back.

    results/predictions/date=D/hour=H/<pod>-<process>-<seq>.parquet

The API writes it (serving/prediction_log.py); the drift check joins labels to it (realized
accuracy); `sentiops predictions prune` keeps `prediction_log_retention_days` of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sentiops.data.readers import reading

SCHEMA = pa.schema(
    [
        ("prediction_id", pa.string()),
        ("time", pa.timestamp("ms", tz="UTC")),
        ("request_id", pa.string()),
        ("model_version", pa.string()),
        ("engine", pa.string()),
        ("role", pa.string()),  # production or canary: answered the caller; shadow: scored beside it
        ("label", pa.string()),
        ("confidence", pa.float32()),
        ("scores", pa.map_(pa.string(), pa.float32())),
        ("text", pa.string()),  # null when only the hash is kept
        ("text_sha256", pa.string()),
        ("shadow_of", pa.string()),  # a shadow row: the prediction id of the answer it was scored beside
        ("trace_id", pa.string()),  # the request's W3C trace id when tracing is on (a label joins the trace)
    ]
)
# Roles whose rows are answers a caller received (labels, realized accuracy and the labelling queue
# read these); `shadow` rows are staging's (or, beside a canary answer, production's) second opinion.
ANSWERED_ROLES = ("production", "canary")
SHADOW = "shadow"


def new_prediction_id(now: dt.datetime) -> str:
    """Unique, and sortable by the hour it was made in (the log's partition: a lookup by id reads
    one hour's files, not the whole log)."""
    return f"{now:%Y%m%d%H}-{os.urandom(10).hex()}"  # 80 random bits (uuid4 cost more)


def batch_prediction_id(date: str, source_file: str, row_id: str, key: bytes) -> str:
    """A batch row's id: the same for the same date, file and row on every run and resume, so a
    label sent for it still finds it after a rerun; keyed (HMAC with the volume's `batch_id_key`),
    so nobody without the key can compute another row's id from a date and a row number."""
    message = f"sentiops-batch/{date}/{source_file}/{row_id}".encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()[:20]
    return f"batch-{date.replace('-', '')}-{digest}"


def batch_id_key(results: Path) -> bytes:
    """The key of the batch ids, made once on the volume (`results/.batch-id-key`, readable by its
    owner only) by whichever run comes first; every shard and rerun after reads the same one."""
    path = results / ".batch-id-key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".batch-id-key.{secrets.token_hex(6)}.tmp")
        tmp.write_bytes(secrets.token_bytes(32))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # atomic create-if-absent: two shards starting together agree
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_bytes()
    if len(key) != 32:
        raise ValueError(f"{path} is not a 32-byte key: remove it only if no labels refer to batch ids yet")
    return key


def batch_date_of(prediction_id: str) -> str | None:
    """The scored date of a batch prediction id, None for any other id."""
    parts = prediction_id.split("-")
    if len(parts) != 3 or parts[0] != "batch" or len(parts[1]) != 8 or not parts[1].isdigit():
        return None
    return f"{parts[1][:4]}-{parts[1][4:6]}-{parts[1][6:]}"


def partition_of(prediction_id: str) -> tuple[str, str] | None:
    """(date, hour) of an API prediction id, None for any other id."""
    stamp = prediction_id.split("-", 1)[0]
    if len(stamp) != 10 or not stamp.isdigit():
        return None
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}", stamp[8:]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def predictions_dir(results: Path) -> Path:
    return results / "predictions"


def log_files(results: Path, date: str | None = None) -> list[Path]:
    folder = predictions_dir(results)
    pattern = f"date={date}/hour=*/*.parquet" if date else "date=*/hour=*/*.parquet"
    return sorted(p for p in folder.glob(pattern) if not p.name.startswith("."))


def prune(results: Path, keep_days: int, today: dt.date | None = None) -> list[str]:
    """Delete the log's date folders older than ``keep_days`` days; returns the dates removed."""
    today = today or dt.datetime.now(dt.UTC).date()
    cutoff = today - dt.timedelta(days=keep_days)
    removed = []
    for folder in sorted(predictions_dir(results).glob("date=*")):
        try:
            day = dt.date.fromisoformat(folder.name.split("=", 1)[1])
        except ValueError:
            continue
        if day < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(day.isoformat())
    return removed


def read_log(results: Path, date: str, columns: list[str] | None = None) -> pa.Table:
    """Every logged prediction of a date (an empty table with the schema when there are none)."""
    columns = columns or SCHEMA.names
    tables = [read_log_file(file, columns) for file in log_files(results, date)]
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table().select(columns)


def read_log_file(file: Path, columns: list[str]) -> pa.Table:
    """These columns of one log file; a column that files of earlier releases lack (`shadow_of`)
    comes back as nulls (`shadow_of`, `trace_id`), and a missing `role` as production (all they logged)."""
    with reading(file):
        present = set(pq.read_schema(file).names)
        table = pq.read_table(file, columns=[c for c in columns if c in present])
    for name in columns:
        if name not in present:
            field = SCHEMA.field(name)
            fill = "production" if name == "role" else None
            table = table.append_column(field, pa.array([fill] * table.num_rows, type=field.type))
    return table.select(columns)


def find(results: Path, prediction_ids: list[str]) -> dict[str, dict]:
    """The logged predictions with these ids (text, model version, time), read from their hours' files."""
    wanted = set(prediction_ids)
    hours = {part for pid in wanted if (part := partition_of(pid)) is not None}
    found: dict[str, dict] = {}
    for date, hour in sorted(hours):
        for file in sorted(predictions_dir(results).glob(f"date={date}/hour={hour}/*.parquet")):
            if file.name.startswith("."):
                continue
            with reading(file):
                table = pq.read_table(file, columns=["prediction_id", "model_version", "time", "text", "text_sha256"])
            for row in table.to_pylist():
                if row["prediction_id"] in wanted:
                    found[row["prediction_id"]] = row
    return found
