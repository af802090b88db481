"""The prediction log: every answer of the API, written off the request path to Parquet on the volume.

    results/predictions/date=D/hour=H/<pod>-<process>-<seq>.parquet

A request only appends its records to a bounded in-memory buffer (a lock held for a list
append); a writer thread flushes it every `prediction_log_flush_seconds` or
`prediction_log_flush_rows` rows, each flush one new file per hour partition, written under a
temporary name and renamed, so a reader (or a crash) never sees half a file and replicas on one
volume never write the same file. A full buffer or a failing disk drops records: they are
counted (`sentiops_prediction_log_dropped_total`) and logged at most once a minute, and the
request that made them is never slowed or failed. Shutdown (SIGTERM) flushes what is buffered.
Traced, each record keeps its request's trace id (a column) and each flush is a
`prediction_log.write` span under the first record's request, linked to the others'.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
from opentelemetry.trace import SpanContext, Tracer

from sentiops import tracing
from sentiops.config import Settings
from sentiops.data.predictions import SCHEMA, predictions_dir, text_hash
from sentiops.files import replaced_atomically
from sentiops.inference import Prediction

log = logging.getLogger("sentiops.predictions")


@dataclass
class Logged:
    prediction_id: str
    time: dt.datetime
    request_id: str
    model_version: str
    engine: str
    role: str
    prediction: Prediction
    text: str
    shadow_of: str | None = None  # a shadow row: the id of the answer it was scored beside
    span: SpanContext | None = None  # the request's span (traced only)


class PredictionLog:
    def __init__(
        self, settings: Settings, on_drop: Callable[[int], None] = lambda n: None, tracer: Tracer | None = None
    ) -> None:
        self.folder = predictions_dir(settings.results)
        self.tracer = tracer
        self.enabled = settings.prediction_log
        self.keep_text = settings.prediction_log_text == "text"
        self.flush_seconds = settings.prediction_log_flush_seconds
        self.flush_rows = settings.prediction_log_flush_rows
        self.max_rows = settings.prediction_log_buffer_rows
        # Unique per process even where every container's process is PID 1 on one host name.
        self.writer_name = f"{settings.pod_name}-{os.getpid()}-{secrets.token_hex(4)}"
        self.on_drop = on_drop
        self.written = 0
        self.dropped = 0
        self._buffer: list[Logged] = []
        self._writing: list[Logged] = []  # taken from the buffer by a flush, not yet in a file
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._seq = 0
        self._last_warning = 0.0
        self._thread: threading.Thread | None = None

    # -- the request side: never blocks on I/O, never raises ---------------------------------
    def record(self, entries: list[Logged]) -> None:
        if not self.enabled or not entries:
            return
        with self._lock:
            room = self.max_rows - len(self._buffer)
            kept = entries[: max(room, 0)]
            self._buffer.extend(kept)
            full = len(self._buffer) >= self.flush_rows
        if len(kept) < len(entries):
            self._drop(len(entries) - len(kept), "the buffer is full (the disk is slower than the traffic)")
        if full:
            self._wake.set()

    def pending(self, prediction_ids: set[str]) -> dict[str, dict[str, str | None]]:
        """Answers with these ids that are not in a file yet (buffered, or being written): a label
        sent right after its prediction must not be a 404 for the few seconds until the flush."""
        if not prediction_ids:
            return {}
        with self._lock:
            entries = [*self._writing, *self._buffer]
        return {
            e.prediction_id: {"text": e.text if self.keep_text else None, "model_version": e.model_version}
            for e in entries
            if e.prediction_id in prediction_ids and e.shadow_of is None
        }

    # -- the writer thread -------------------------------------------------------------------
    def start(self) -> None:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Flush what is buffered and stop (the API's shutdown: SIGTERM loses nothing)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write the buffer (one file per hour partition); returns the rows written."""
        with self._lock:
            entries, self._buffer = self._buffer, []
            self._writing = entries
        if not entries:
            return 0
        span = None
        if self.tracer is not None:
            span = tracing.joined(self.tracer, "prediction_log.write", (e.span for e in entries), rows=len(entries))
        by_hour: dict[tuple[str, str], list[Logged]] = {}
        for entry in entries:
            by_hour.setdefault((f"{entry.time:%Y-%m-%d}", f"{entry.time:%H}"), []).append(entry)
        written = 0
        for (date, hour), rows in by_hour.items():
            try:
                self._write(date, hour, rows)
                written += len(rows)
            except Exception as exc:  # a full or read-only disk must not reach the requests
                self._drop(len(rows), f"could not write the prediction log: {exc}")
        with self._lock:
            self._writing = []
        self.written += written
        if span is not None:
            span.set_attribute("rows_written", written)
            span.end()
        return written

    def _write(self, date: str, hour: str, rows: list[Logged]) -> None:
        self._seq += 1
        folder = self.folder / f"date={date}" / f"hour={hour}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.table(
            {
                "prediction_id": [r.prediction_id for r in rows],
                "time": [r.time for r in rows],
                "request_id": [r.request_id for r in rows],
                "model_version": [r.model_version for r in rows],
                "engine": [r.engine for r in rows],
                "role": [r.role for r in rows],
                "label": [r.prediction.label for r in rows],
                "confidence": [r.prediction.confidence for r in rows],
                "scores": [list(r.prediction.scores.items()) for r in rows],
                "text": [r.text if self.keep_text else None for r in rows],
                "text_sha256": [text_hash(r.text) for r in rows],
                "shadow_of": [r.shadow_of for r in rows],
                "trace_id": [tracing.trace_id(r.span) for r in rows],
            },
            schema=SCHEMA,
        )
        with replaced_atomically(folder / f"{self.writer_name}-{self._seq:06d}.parquet") as tmp:
            pq.write_table(table, tmp)

    def _drop(self, n: int, why: str) -> None:
        self.dropped += n
        self.on_drop(n)
        now = time.monotonic()
        if now - self._last_warning >= 60:  # at most one line a minute, however many drops
            self._last_warning = now
            log.warning("prediction log dropped %d records: %s (%d dropped so far)", n, why, self.dropped)
