"""OpenTelemetry tracing, off unless an OTLP endpoint is configured.

On when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set (or
`OTEL_TRACES_EXPORTER=otlp`), and `OTEL_SDK_DISABLED` is not `true`; the exporter (OTLP over
HTTP/protobuf), its headers, the sampler and the service name (`OTEL_SERVICE_NAME`) read the
standard OTEL_* variables themselves. Spans are exported in batches on the SDK's own thread.

Off, nothing is built: `start` returns None and every caller checks for None, so no span, context
or propagator work is done on the request path. Each process (or app) gets its own provider, not
the global one: tests run several apps in one process.

W3C trace context: `traceparent` is read from requests (and `TRACEPARENT` from the environment
for the batch job, so an orchestrator can hand its trace to every shard) and returned on responses.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, Span, SpanContext, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sentiops import __version__

PROPAGATOR = TraceContextTextMapPropagator()
MAX_LINKS = 64  # a batch span links to at most this many requests (a micro-batch has 32)
_providers: dict[int, TracerProvider] = {}  # id(tracer) -> its provider, to flush and shut down


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
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({"service.name": name, "service.version": __version__}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
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
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier, trace.set_span_in_context(span))
    return carrier.get("traceparent", "")


def current() -> SpanContext | None:
    """The span context of the current span, if one is recording (else None)."""
    context = trace.get_current_span().get_span_context()
    return context if context.is_valid else None


def trace_id(context: SpanContext | None) -> str | None:
    return format(context.trace_id, "032x") if context is not None else None


def joined(tracer: Tracer, name: str, parents: Iterable[SpanContext | None], **attributes: object) -> Span:
    """A span for work done for many requests at once (a micro-batch, a log flush, a shadow batch):
    the child of the first request's span, so one request's trace is one tree, and linked to the
    others' (up to MAX_LINKS)."""
    found = [p for p in parents if p is not None]
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
