"""OpenTelemetry tracing, off unless an OTLP endpoint is configured.

On when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set (or
`OTEL_TRACES_EXPORTER=otlp`), and `OTEL_SDK_DISABLED` is not `true`; the exporter (OTLP over
HTTP/protobuf), its headers, the sampler and the service name (`OTEL_SERVICE_NAME`) read the
standard OTEL_* variables themselves. Ended spans go, as JSON lines twice a second, to an exporter
process of their own (sentiops/trace_export.py), which encodes and sends them: encoding on a
thread of the API held the interpreter lock its event loop needs (docs/serving.md, "Tracing").

Off, nothing is built: `start` returns None and every caller checks for None, so no span, context
or propagator work is done on the request path. Each process (or app) gets its own provider, not
the global one: tests run several apps in one process.

W3C trace context: `traceparent` is read from requests (and `TRACEPARENT` from the environment
for the batch job, so an orchestrator can hand its trace to every shard) and returned on responses.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import Link, Span, SpanContext, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sentiops import __version__

PROPAGATOR = TraceContextTextMapPropagator()
MAX_LINKS = 64  # a batch span links to at most this many requests (a micro-batch has 32)
_providers: dict[int, TracerProvider] = {}  # id(tracer) -> its provider, to flush and shut down
log = logging.getLogger(__name__)


def configured(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return bool(endpoint) or env.get("OTEL_TRACES_EXPORTER", "").lower() == "otlp"


def start(service: str) -> Tracer | None:
    """A tracer exporting over OTLP/HTTP, or None when tracing is not configured."""
    if not configured():
        return None
    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({"service.name": name, "service.version": __version__}))
    provider.add_span_processor(ProcessSpanProcessor(name))
    tracer = provider.get_tracer("sentiops", __version__)
    _providers[id(tracer)] = provider
    return tracer


def stop(tracer: Tracer | None) -> None:
    """Export what is left and stop the exporter's thread."""
    provider = _providers.pop(id(tracer), None) if tracer is not None else None
    if provider is not None:
        provider.shutdown()


def flush(tracer: Tracer | None, timeout_ms: int = 5000) -> None:
    provider = _providers.get(id(tracer)) if tracer is not None else None
    if provider is not None:
        provider.force_flush(timeout_ms)


def extract(traceparent: str | None, tracestate: str | None = None) -> Context | None:
    """The caller's context from its W3C headers (None: start a new trace)."""
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return PROPAGATOR.extract(carrier)


def traceparent(span: Span) -> str:
    """The W3C `traceparent` of a span (version 00), formatted directly: the propagator's inject
    builds a context and a carrier for it and cost a sixth of a traced request's tracing time."""
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def current() -> SpanContext | None:
    """The span context of the current span (the request's), if there is one (else None)."""
    context = trace.get_current_span().get_span_context()
    return context if context.is_valid else None


def trace_id(context: SpanContext | None) -> str | None:
    return format(context.trace_id, "032x") if context is not None else None


def joined(tracer: Tracer, name: str, parents: Iterable[SpanContext | None], **attributes: object) -> Span:
    """A span for work done for many requests at once (a micro-batch, a log flush, a shadow batch):
    the child of the first request's span, so one request's trace is one tree, and linked to the
    others' (up to MAX_LINKS). With head sampling (OTEL_TRACES_SAMPLER) the first *sampled* request
    is the parent, so the shared work is recorded whenever one of its requests is."""
    found = sorted((p for p in parents if p is not None), key=lambda p: not p.trace_flags.sampled)
    context = trace.set_span_in_context(trace.NonRecordingSpan(found[0])) if found else None
    links = [Link(p) for p in found[1 : MAX_LINKS + 1]]
    return tracer.start_span(name, context=context, links=links, attributes=attributes)  # type: ignore[arg-type]


@contextlib.contextmanager
def span(
    tracer: Tracer | None, name: str, context: Context | None = None, **attributes: object
) -> Iterator[Span | None]:
    """A current span around a block, or nothing at all when tracing is off (`tracer` None)."""
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, context=context, attributes=attributes) as found:  # type: ignore[arg-type]
        yield found


def span_row(span: ReadableSpan) -> list[Any]:
    """What the exporter process needs of an ended span, as JSON (trace_export.to_span reads it)."""
    context, parent = span.context, span.parent
    assert context is not None
    return [
        span.name,
        context.trace_id,
        context.span_id,
        parent.span_id if parent is not None else 0,
        bool(parent is not None and parent.is_remote),
        span.start_time,
        span.end_time,
        span.kind.value,
        span.status.status_code is StatusCode.ERROR,
        dict(span.attributes or {}),
        [[link.context.trace_id, link.context.span_id] for link in span.links],
    ]


class ProcessSpanProcessor(SpanProcessor):
    """Ended spans sent, as JSON rows, to the exporter process every `delay` seconds (or at `batch`
    spans); past `max_rows` waiting (the exporter stuck), new spans are dropped and counted, never
    the request slowed."""

    def __init__(self, service: str, delay: float = 0.5, batch: int = 2048, max_rows: int = 100_000) -> None:
        self.delay, self.batch, self.max_rows = delay, batch, max_rows
        self.dropped = 0
        self._spans: list[ReadableSpan] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._process = subprocess.Popen(
            [sys.executable, "-m", "sentiops.trace_export", service], stdin=subprocess.PIPE, env=os.environ.copy()
        )
        self._thread = threading.Thread(target=self._run, name="trace-export", daemon=True)
        self._thread.start()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        # The span as it is: turning it into a row is the sender thread's work, off the request's.
        with self._lock:
            if len(self._spans) >= self.max_rows:
                self.dropped += 1
                return
            self._spans.append(span)
            full = len(self._spans) >= self.batch
        if full:
            self._wake.set()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.delay)
            self._wake.clear()
            self._send()

    def _send(self) -> None:
        with self._lock:
            spans, self._spans = self._spans, []
        if not spans or self._process.stdin is None:
            return
        rows = [span_row(span) for span in spans]
        try:
            self._process.stdin.write(json.dumps(rows).encode() + b"\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:  # the exporter died: spans are lost, requests not
            if not self.dropped:  # once, not at every send (twice a second); the count says the rest
                log.warning("trace exporter unavailable (%s): its spans are dropped from now on", exc)
            self.dropped += len(rows)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._send()  # to the exporter process; it exports each line as it reads it
        return True

    def shutdown(self) -> None:
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout=5)
        self._send()
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):  # an exporter that died already: nothing to tell it
                self._process.stdin.close()  # the exporter exports what it read, then ends
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
