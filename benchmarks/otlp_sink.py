"""A local OTLP/HTTP trace receiver for the tracing benchmark: takes every export on /v1/traces,
answers 200; GET /stats says how many exports and bytes it took (and spans, with --count-spans,
which decodes every export: on 2 cores that decoding competes with the server being measured,
where a real collector would run elsewhere).

    python benchmarks/otlp_sink.py PORT [--count-spans]
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

STATS = {"exports": 0, "spans": 0, "bytes": 0}
COUNT_SPANS = "--count-spans" in sys.argv


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        STATS["exports"] += 1
        STATS["bytes"] += len(body)
        if COUNT_SPANS:
            request = ExportTraceServiceRequest.FromString(body)
            STATS["spans"] += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        payload = json.dumps(STATS).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    os.nice(19)  # a stand-in for a collector on another machine: the server's cores come first
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
