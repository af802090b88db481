"""The span exporter's own process: ended spans come in on stdin as JSON lines (one batch a line,
written by tracing.ProcessSpanProcessor), go out over OTLP/HTTP with the SDK's exporter.

Why a process: encoding spans as OTLP protobuf costs about as much Python time as making them
(23 against 19 µs a span here) and, on a thread of the API, it held the interpreter lock the event
loop needs: 32-client req/s fell to 0.79 of tracing off and the paced p99 rose 1.4x
(docs/serving.md, "Tracing"). Here it costs the API a JSON line per batch.

It reads the standard OTEL_* variables (endpoint, headers, timeout) as the SDK exporter does,
and ends when stdin closes (the API stopped or died), after exporting what it read.

    python -m sentiops.trace_export SERVICE_NAME
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from sentiops import __version__

SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def _context(trace_id: int, span_id: int, remote: bool = False) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=remote, trace_flags=SAMPLED)


def to_span(row: list[Any], resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    """A span from its row (tracing.span_row's fields, in order)."""
    name, trace_id, span_id, parent, remote, start, end, kind, error, attributes, links = row
    return ReadableSpan(
        name,
        context=_context(trace_id, span_id),
        parent=_context(trace_id, parent, remote) if parent else None,
        resource=resource,
        attributes=attributes,
        links=[Link(_context(t, s)) for t, s in links],
        kind=SpanKind(kind),
        status=Status(StatusCode.ERROR) if error else Status(StatusCode.UNSET),
        start_time=start,
        end_time=end,
        instrumentation_scope=scope,
    )


def main() -> None:
    # Below the API in the scheduler's eyes: its bursts of encoding (a few ms twice a second) took
    # cores from the engine's threads and showed as the paced load's p99 (docs/serving.md).
    os.nice(10)
    service = sys.argv[1] if len(sys.argv) > 1 else "sentiops"
    resource = Resource.create({"service.name": service, "service.version": __version__})
    scope = InstrumentationScope("sentiops", __version__)
    exporter = OTLPSpanExporter()
    for line in sys.stdin:
        try:
            rows = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by the API's end: what came before was exported
        exporter.export([to_span(row, resource, scope) for row in rows])
    exporter.shutdown()


if __name__ == "__main__":
    main()
