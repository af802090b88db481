"""A real local HTTP server standing in for Slack / a JSON webhook, with scripted answers."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorder:
    statuses: list[int] = field(default_factory=list)  # answers in order; the last one repeats
    requests: list[dict] = field(default_factory=list)

    def next_status(self) -> int:
        index = min(len(self.requests) - 1, len(self.statuses) - 1)
        return self.statuses[index] if self.statuses else 200


@contextlib.contextmanager
def webhook_server(
    statuses: list[int] | None = None, bind: str = "127.0.0.1", url_host: str | None = None
) -> Iterator[tuple[str, Recorder]]:
    """Yields (the hook's URL, its recorder). Containers reach it with bind="0.0.0.0" and
    url_host="host.containers.internal" (podman's name for the host)."""
    recorder = Recorder(list(statuses or [200]))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            recorder.requests.append({"path": self.path, "body": json.loads(body or b"{}")})
            status = recorder.next_status()
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"error")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((bind, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host = url_host or "127.0.0.1"
        yield f"http://{host}:{server.server_address[1]}/services/T000/B000/SECRET-hook-token", recorder
    finally:
        server.shutdown()
        server.server_close()
