"""The dashboard's sign-in: a signed, expiring session cookie, a rate limit on sign-in attempts,
and the security headers of every dashboard page.

A browser cannot send a bearer header on its own, so /ui/login trades the API token for a
cookie. The cookie holds no token: it is a timestamp signed (itsdangerous) with a key derived
from the token, so it expires (`SENTIOPS_UI_SESSION_HOURS`), cannot be forged without the token,
and every session ends when the token is rotated.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SESSION_COOKIE = "sentiops_session"

# Pages are the app's own: scripts and styles from it alone (the pages' <style> blocks and the
# drift report's inline SVG are allowed), never framed by another site, no MIME sniffing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _serializer(token: str) -> URLSafeTimedSerializer:
    key = hashlib.sha256(b"sentiops dashboard session\0" + token.encode()).hexdigest()
    return URLSafeTimedSerializer(key, salt="sentiops-ui")


def new_session(token: str, who: str | None = None) -> str:
    """``who``: the name the person signed in with, if any (recorded with the labels they give)."""
    return _serializer(token).dumps({"v": 1, "who": who} if who else {"v": 1})


def read_session(cookie: str, token: str, max_age_seconds: float) -> dict | None:
    """The session's payload, None when the cookie is missing, forged or expired."""
    if not cookie:
        return None
    try:
        payload = _serializer(token).loads(cookie, max_age=int(max_age_seconds))
    except (SignatureExpired, BadSignature):
        return None
    return payload if isinstance(payload, dict) else {}


def valid_session(cookie: str, token: str, max_age_seconds: float) -> bool:
    return read_session(cookie, token, max_age_seconds) is not None


class LoginLimiter:
    """At most ``per_minute`` failed sign-ins per client address in any 60 seconds."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds until this client may try again (0: now)."""
        with self._lock:
            recent = self._recent(client)
            if len(recent) < self.per_minute:
                return 0
            return max(1, int(recent[0] + 60 - time.monotonic()) + 1)

    def failed(self, client: str) -> None:
        with self._lock:
            self._recent(client).append(time.monotonic())
            if len(self._failures) > 10_000:  # bound the memory a flood of addresses can take
                self._failures = {k: v for k, v in self._failures.items() if v}

    def _recent(self, client: str) -> deque[float]:
        recent = self._failures.setdefault(client, deque())
        while recent and recent[0] < time.monotonic() - 60:
            recent.popleft()
        return recent
