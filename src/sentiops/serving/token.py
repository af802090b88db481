"""A bearer token (the API callers' or the operators'): from a variable (SENTIOPS_API_TOKEN,
SENTIOPS_ADMIN_TOKEN), or from the file its `_FILE` variable names.

Fails closed: when a token file is configured but missing or empty (an absent or broken
Kubernetes Secret), `get()` raises instead of returning "no token", so nothing is served
without auth and /readyz keeps the pod out of the Service. The file is re-read when it changes
(Kubernetes swaps a Secret's files on rotation), checked at most once a second.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from pydantic import SecretStr

from sentiops import logs

log = logging.getLogger(__name__)


class TokenUnavailable(RuntimeError):
    """A token file is configured but cannot give a token: refuse, never serve without auth."""


class TokenSource:
    def __init__(
        self,
        value: SecretStr | None,
        file: Path | None,
        check_seconds: float = 1.0,
        name: str = "API token",
        variable: str = "SENTIOPS_API_TOKEN",
    ) -> None:
        self.name = name
        self._value = value.get_secret_value().strip() if value is not None else ""
        if self._value and len(self._value) < logs.MIN_SECRET_CHARS:
            # Too short to redact from logs (and to guess hard): refuse to start with it.
            raise ValueError(f"{variable} is shorter than {logs.MIN_SECRET_CHARS} characters; use a longer one")
        self.file = None if self._value else file
        self._check_seconds = check_seconds
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._seen: tuple[int, int, int] | None = None  # (inode, size, mtime) of the file last read
        self._token: str | None = None
        self._problem: str | None = None
        if self._value:
            logs.register_secret(self._value)
        self.get_or_none()  # read (and log) at start

    @property
    def configured(self) -> bool:
        return bool(self._value) or self.file is not None

    def get(self) -> str | None:
        """The token; None when none is configured (open prediction routes, closed admin routes)."""
        if self._value or self.file is None:
            return self._value or None
        with self._lock:
            if time.monotonic() - self._checked >= self._check_seconds:
                self._checked = time.monotonic()
                self._refresh(self.file)
            if self._problem is not None:
                raise TokenUnavailable(self._problem)
            return self._token

    def get_or_none(self) -> str | None:
        try:
            return self.get()
        except TokenUnavailable:
            return None

    def _refresh(self, file: Path) -> None:
        try:
            stat = file.stat()
        except OSError:
            self._set_problem(f"{self.name} file {file} is missing: refusing requests until it appears")
            return
        seen = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if seen == self._seen:
            return
        try:
            token = file.read_text(encoding="utf-8-sig").strip()
        except OSError as exc:
            self._set_problem(f"{self.name} file {file} cannot be read ({exc.strerror}): refusing requests")
            return
        self._seen = seen
        if not token:
            self._set_problem(f"{self.name} file {file} is empty: refusing requests until it holds a token")
            return
        if len(token) < logs.MIN_SECRET_CHARS:
            self._set_problem(
                f"{self.name} in {file} is shorter than {logs.MIN_SECRET_CHARS} characters (it could not be "
                "redacted from logs): refusing requests until it holds a longer one"
            )
            return
        logs.register_secret(token)
        if self._token is not None and token != self._token:
            log.info("%s rotated: re-read from %s", self.name, file)
        elif self._problem is not None or self._token is None:
            log.info("%s read from %s", self.name, file)
        self._token, self._problem = token, None

    def _set_problem(self, problem: str) -> None:
        if problem != self._problem:
            log.error(problem)
        self._token, self._problem, self._seen = None, problem, None
