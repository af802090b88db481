"""`sentiops batch run`: score a day's tweets into date-partitioned Parquet on the volume.

Streaming (bounded memory), idempotent (a finished date+shard is not redone), resumable
(a killed run keeps its finished chunks), shardable (`--shard I/N` or an Indexed Job).
Where each file goes: sentiops/volume.py; what a run is asked and reports: scoring/runs.py.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout
from opentelemetry.trace import Tracer
from pydantic import BaseModel

from sentiops import tracing
from sentiops.config import BackendSetting, Settings
from sentiops.data.predictions import batch_id_key, batch_prediction_id
from sentiops.data.readers import Record, Reject, expand_inputs, iter_chunks
from sentiops.data.store import REJECT_SCHEMA
from sentiops.files import replaced_atomically, sha256_file, write_json_atomic
from sentiops.inference import Predictor
from sentiops.pins import pin_backend, pin_model, pinned_backend
from sentiops.registry import Registry
from sentiops.scoring.drift_step import run_drift_step
from sentiops.scoring.runs import BatchOptions, RunResult
from sentiops.version import score_column
from sentiops.volume import DateFiles, ShardFiles

log = logging.getLogger("sentiops.batch")


def score_schema(labels: list[str]) -> pa.Schema:
    """The scores Parquet: one probability column per class of the version (its labels.json)."""
    return pa.schema(
        [
            ("row_id", pa.string()),
            ("prediction_id", pa.string()),  # the same kind of id as the API's (labels join on it)
            ("source_file", pa.string()),
            ("text", pa.string()),
            ("label", pa.string()),
            ("confidence", pa.float32()),
            *((score_column(label), pa.float32()) for label in labels),
            ("tokens", pa.int16()),
            ("unknown_tokens", pa.int16()),
            ("model_version", pa.string()),
            ("scored_at", pa.timestamp("ms", tz="UTC")),
        ]
    )


BATCH_REJECT_SCHEMA = REJECT_SCHEMA.append(pa.field("source_file", pa.string()))


class RunBusy(RuntimeError):
    """Another run of the same date and shard holds its lock."""


class RunSettingsChanged(ValueError):
    """An interrupted run would resume with other chunking or limits than it started with."""


class RunState(BaseModel):
    """What a run pins when it starts (work/state.json), so a resumed run scores like the first."""

    inputs: list[dict[str, str]]
    model_version: str
    settings: dict[str, int]
    started_at: str


def run_batch(
    settings: Settings,
    options: BatchOptions,
    on_rows: Callable[[int], object] | None = None,
    tracer: Tracer | None = None,
) -> RunResult:
    """Score one date+shard exactly once, then (with ``options.drift``) the date's drift step.

    A second run of the same date+shard waits up to ``options.wait_seconds`` for the first
    (then finds it done) or raises RunBusy. ``on_rows``: progress, rows read per chunk.
    Traced, the run is a `batch.run` span (in the trace `TRACEPARENT` names, so every shard of an
    Indexed Job can join one trace) with a `batch.chunk` span per chunk and the drift step's."""
    date = options.date or dt.datetime.now(dt.UTC).date().isoformat()
    dt.date.fromisoformat(date)  # raises ValueError on a bad date
    parent = tracing.extract(os.environ.get("TRACEPARENT"), os.environ.get("TRACESTATE"))
    shard = {"shard.index": options.shard.index, "shard.count": options.shard.count}
    with tracing.span(tracer, "batch.run", parent, date=date, **shard) as run:
        result = _run(settings, options, on_rows, date, tracer)
        if run is not None:
            run.set_attribute("status", result.status)
            run.set_attribute("rows_scored", int(result.manifest.get("rows_scored", 0)))
        return result


def _run(
    settings: Settings,
    options: BatchOptions,
    on_rows: Callable[[int], object] | None,
    date: str,
    tracer: Tracer | None,
) -> RunResult:
    files = DateFiles(settings.results, date).shard(options.shard)
    limit = settings.batch_max_reject_share if options.max_reject_share is None else options.max_reject_share
    files.lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(files.lock), timeout=options.wait_seconds):
            result = _run_locked(settings, options, files, limit, on_rows, tracer)
    except Timeout as exc:
        raise RunBusy(
            f"another run of {date} {options.shard.name} is in progress (lock {files.lock}); "
            "it will finish the work: wait for it, or pass --wait-seconds"
        ) from exc
    if options.drift:
        # Also on a retry of a finished run, so a failed drift step is redone.
        with tracing.span(tracer, "batch.drift_step"):
            result.drift_step = run_drift_step(settings, result, options.labels_file)
    return result


def _run_locked(
    settings: Settings,
    options: BatchOptions,
    files: ShardFiles,
    limit: float,
    on_rows: Callable[[int], object] | None,
    tracer: Tracer | None = None,
) -> RunResult:
    date, shard = files.day.date, files.shard
    if files.phase == "done" and not options.force:
        log.info("already scored: %s %s (use --force to redo)", date, shard.name)
        return RunResult(date, shard, "skipped", json.loads(files.manifest.read_text()))
    inputs = [f for spec in options.inputs for f in expand_inputs(spec)]
    files.work.mkdir(parents=True, exist_ok=True)
    state = _load_or_start_state(files, settings, inputs, options.force)
    predictor = _predictor(settings, files.day, state.model_version)
    predictor.exact_widths = True  # one long run: padding saved beats a bounded kernel cache
    schema = score_schema(predictor.labels)

    started = time.perf_counter()
    id_key = batch_id_key(settings.results)
    counts = {"rows_read": 0, "rows_scored": 0, "rows_rejected": 0, "chunks": 0, "chunks_resumed": 0}
    chunk_no = -1
    for file_no, path in enumerate(inputs):
        for records, rejects in iter_chunks(path, settings.batch_chunk_rows):
            chunk_no += 1
            if chunk_no % shard.count != shard.index:
                continue  # another shard's chunk
            chunk_file = files.chunk(file_no, chunk_no)
            counts["chunks"] += 1
            if chunk_file.is_file():
                counts["chunks_resumed"] += 1
                meta = pq.read_metadata(chunk_file)
                rejected = pq.read_metadata(files.chunk_rejects(chunk_file)).num_rows
                counts["rows_scored"] += meta.num_rows
                counts["rows_rejected"] += rejected
                counts["rows_read"] += meta.num_rows + rejected
                continue
            with tracing.span(tracer, "batch.chunk", chunk=chunk_no, file=path.name, rows=len(records)):
                scored, bad = _score_chunk(
                    predictor, schema, date, path.name, id_key, records, rejects, settings.batch_max_text_chars
                )
                _write_atomic(bad, files.chunk_rejects(chunk_file))
                _write_atomic(scored, chunk_file)  # the scores file marks the chunk as done
            counts["rows_read"] += len(records) + len(rejects)
            counts["rows_scored"] += scored.num_rows
            counts["rows_rejected"] += bad.num_rows
            if on_rows is not None:
                on_rows(len(records) + len(rejects))
            elapsed = time.perf_counter() - started
            log.info(
                "chunk %d done: %d rows scored so far, %.0f rows/s",
                chunk_no,
                counts["rows_scored"],
                counts["rows_scored"] / max(elapsed, 1e-9),
            )

    _publish(files, schema)
    seconds = time.perf_counter() - started
    share = counts["rows_rejected"] / max(1, counts["rows_read"])
    manifest = {
        "date": date,
        "shard": {"index": shard.index, "count": shard.count},
        "inputs": state.inputs,
        "model_version": state.model_version,
        "backend": predictor.backend,
        "backend_choice": predictor.choice,
        **counts,
        "reject_share": round(share, 6),
        "max_reject_share": limit,
        "chunk_rows": state.settings["chunk_rows"],
        "max_text_chars": state.settings["max_text_chars"],
        "seconds": round(seconds, 3),
        "rows_per_second": round(counts["rows_scored"] / max(seconds, 1e-9), 1),
        "started_at": state.started_at,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "outputs": {"scores": str(files.scores), "rejects": str(files.rejects)},
    }
    files.manifest.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(files.manifest, manifest)  # the success marker: written last
    shutil.rmtree(files.work, ignore_errors=True)
    return RunResult(date, shard, "scored", manifest)


def _predictor(settings: Settings, day: DateFiles, version: str) -> Predictor:
    """The date's pinned engine if a run of the date chose one; else choose (auto) and pin it."""
    pinned = pinned_backend(day)
    predictor = Predictor.from_settings(settings, version, backend=cast(BackendSetting | None, pinned))
    backend = pin_backend(day, predictor.backend)
    if backend != predictor.backend:  # another shard pinned first, while this one was timing
        predictor = Predictor.from_settings(settings, version, backend=cast(BackendSetting, backend))
    return predictor


def _load_or_start_state(files: ShardFiles, settings: Settings, inputs: list[Path], force: bool) -> RunState:
    """Pin the model version, inputs and chunking at the start, so a resumed run scores like the first."""
    hashed = [{"path": str(f), "sha256": sha256_file(f)} for f in inputs]
    run_settings = {"chunk_rows": settings.batch_chunk_rows, "max_text_chars": settings.batch_max_text_chars}
    if files.phase == "scoring" and not force:
        state = RunState.model_validate_json(files.state.read_text())
        if state.inputs == hashed:
            if state.settings != run_settings:
                raise RunSettingsChanged(
                    f"the interrupted run of {files.day.date} {files.shard.name} used {state.settings}, this one "
                    f"{run_settings}: its finished chunks would not line up. Rerun with the same settings, or "
                    "with --force to start the date+shard over"
                )
            log.info("resuming %s %s on model %s", files.day.date, files.shard.name, state.model_version)
            return state
        log.warning("inputs changed since the interrupted run; starting over")
    for stale in files.work.glob("chunk-*"):
        stale.unlink()
    for stale in files.work.glob("rejects-*"):
        stale.unlink()
    registry = Registry(settings.registry)
    version = pin_model(files.day, files.shard.count, lambda: registry.resolve("production"))
    state = RunState(
        inputs=hashed, model_version=version, settings=run_settings, started_at=dt.datetime.now(dt.UTC).isoformat()
    )
    write_json_atomic(files.state, state.model_dump())
    return state


def _score_chunk(
    predictor: Predictor,
    schema: pa.Schema,
    date: str,
    source: str,
    id_key: bytes,  # the batch ids' key (predictions.batch_id_key)
    records: list[Record],
    rejects: list[Reject],
    max_chars: int,
) -> tuple[pa.Table, pa.Table]:
    bad = list(rejects)
    good: list[Record] = []
    for record in records:
        if len(record.text) > max_chars:
            bad.append(
                Reject(
                    record.row_id, f"text too long ({len(record.text)} > {max_chars} characters)", record.text[:2000]
                )
            )
        else:
            good.append(record)
    predictions = predictor.predict([r.text for r in good])
    now = dt.datetime.now(dt.UTC)
    scored = pa.table(
        {
            "row_id": [r.row_id for r in good],
            "prediction_id": [batch_prediction_id(date, source, r.row_id, id_key) for r in good],
            "source_file": [source] * len(good),
            "text": [r.text for r in good],
            "label": [p.label for p in predictions],
            "confidence": [p.confidence for p in predictions],
            **{score_column(label): [p.scores[label] for p in predictions] for label in predictor.labels},
            "tokens": [p.tokens for p in predictions],
            "unknown_tokens": [p.unknown for p in predictions],
            "model_version": [predictor.version] * len(good),
            "scored_at": [now] * len(good),
        },
        schema=schema,
    )
    rejected = pa.table(
        {
            "row_id": [r.row_id for r in bad],
            "reason": [r.reason for r in bad],
            "raw": [r.raw for r in bad],
            "source_file": [source] * len(bad),
        },
        schema=BATCH_REJECT_SCHEMA,
    )
    return scored, rejected


def _write_atomic(table: pa.Table, path: Path) -> None:
    with replaced_atomically(path) as tmp:
        pq.write_table(table, tmp)


def _concat(parts: list[Path], schema: pa.Schema, target: Path) -> None:
    """Stream the chunk files into one Parquet file (a row group each), then rename it in."""
    with replaced_atomically(target) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for part in parts:
            writer.write_table(pq.read_table(part, schema=schema))


def _publish(files: ShardFiles, schema: pa.Schema) -> None:
    chunks = files.chunks()
    _concat(chunks, schema, files.scores)
    _concat([files.chunk_rejects(c) for c in chunks], BATCH_REJECT_SCHEMA, files.rejects)
