"""Pure-ASGI middleware: request id, body size cap, latency and request metrics, access log and,
when tracing is on, the request's server span (RequestMiddleware); the dashboard's security
headers (PageHeaders).

Pure ASGI rather than BaseHTTPMiddleware: it adds no task, task group or stream per request. One
BaseHTTPMiddleware that only set headers on /ui pages cost about a sixth of the event loop's time
under load on /predict (benchmarks/results/serve_profile.txt).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentiops import tracing

log = logging.getLogger("sentiops.access")
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # used with fullmatch: `$` would let "abc\n" through


class RequestMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int = 1_000_000) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers", []))
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_ID.fullmatch(given) else os.urandom(16).hex()  # uuid4's hex, cheaper
        scope.setdefault("state", {})["request_id"] = request_id  # request.state.request_id in routes
        status = {"code": 500}
        service = getattr(getattr(scope.get("app"), "state", None), "sentiops", None)
        tracer: Tracer | None = getattr(service, "tracer", None)
        span, token = _start_span(tracer, scope, headers, request_id) if tracer is not None else (None, None)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
                if span is not None:  # the caller can follow its request: W3C trace context back
                    message["headers"].append((b"traceparent", tracing.traceparent(span).encode()))
            await send(message)

        try:
            body = await self._read_body(receive)
            if body is None:
                # The Open Inference Protocol's error shape under /v2, the API's elsewhere.
                key = "error" if scope["path"].startswith("/v2") else "detail"
                await _reject(send_wrapper, 413, f"request body over {self.max_body_bytes} bytes", key)
            else:
                await self.app(scope, _replay(body, receive), send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            if span is not None:
                _end_span(span, token, scope["method"], path, status["code"])
            if service is not None:
                service.metrics.requests.labels(path, scope["method"], str(status["code"])).inc()
                service.metrics.latency.labels(path).observe(elapsed)
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status["code"],
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it passes the cap (bodies here are small)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _start_span(tracer: Tracer, scope: Scope, headers: dict[bytes, bytes], request_id: str) -> tuple[Span, object]:
    """The request's server span, in the caller's trace when it sent `traceparent`; made current,
    so the route's own spans (the micro-batcher's) are its children."""
    parent = tracing.extract(
        headers.get(b"traceparent", b"").decode("latin-1"), headers.get(b"tracestate", b"").decode("latin-1")
    )
    span = tracer.start_span(f"{scope['method']} {scope['path']}", context=parent, kind=SpanKind.SERVER)
    span.set_attribute("request_id", request_id)  # joins the access log's line
    return span, otel_context.attach(trace.set_span_in_context(span))


def _end_span(span: Span, token: object, method: str, route: str, status: int) -> None:
    # The attributes once, at the end: each one set costs the SDK a validation.
    span.update_name(f"{method} {route}")
    span.set_attributes({"http.request.method": method, "http.route": route, "http.response.status_code": status})
    if status >= 500:
        span.set_status(StatusCode.ERROR)
    span.end()
    otel_context.detach(token)  # type: ignore[arg-type]


class PageHeaders:
    """Adds `headers` to every response under `prefix` (replacing a header of the same name)."""

    def __init__(self, app: ASGIApp, prefix: str, headers: dict[str, str]) -> None:
        self.app = app
        self.prefix = prefix
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self.names]
                message["headers"] = kept + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the buffered body to the app once, then pass through (to see a real disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reject(send: Send, status: int, message: str, key: str = "detail") -> None:
    payload = json.dumps({key: message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
