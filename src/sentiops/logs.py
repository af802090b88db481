"""Logging set-up (JSON lines for services and jobs) and secret redaction for every log line.

Every secret the process reads goes through `config.read_secret`, which registers it here; the
one handler's formatter then replaces it in every formatted line, whichever logger wrote it and
at whatever level (HTTP client libraries log full request URLs, and a webhook URL is a secret).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from pythonjsonlogger.json import JsonFormatter

REDACTED = "[redacted]"
# Switched off by quiet commands (cli/output.py); read where libraries are driven (training):
# when off, their progress bars and per-step logs stay off. One switch per process.
_library_output = True
# Shorter secrets cannot be redacted without mangling ordinary text; the API refuses such tokens.
MIN_SECRET_CHARS = 6
_secrets: set[str] = set()
_lock = threading.Lock()
# Libraries that log each HTTP request with its URL at INFO/DEBUG; their lines add nothing ours
# do not say, so they are kept to warnings (and redacted all the same).
QUIET_LIBRARIES = ("httpx", "httpcore", "urllib3", "slack_sdk", "sentiops.slack")


def library_output() -> bool:
    """Whether the libraries' own progress and logs are wanted (unless a command asked for quiet)."""
    return _library_output


def set_library_output(on: bool) -> None:
    global _library_output
    _library_output = on


def register_secret(value: str) -> None:
    """Never let ``value`` appear in a log record, whichever handler receives it."""
    value = value.strip()
    if len(value) < MIN_SECRET_CHARS:
        return  # too short to redact without mangling ordinary text (the API refuses such tokens)
    with _lock:
        _secrets.add(value)
        if logging.getLogRecordFactory() is not _redacting_factory:
            global _base_factory
            _base_factory = logging.getLogRecordFactory()
            logging.setLogRecordFactory(_redacting_factory)


_base_factory = logging.getLogRecordFactory()


def _redacting_factory(*args: object, **kwargs: object) -> logging.LogRecord:
    """Every record is redacted when it is made, before any handler (a test's, a library's) sees it."""
    record = _base_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is the logging module's problem, not ours
        return record
    redacted = redact(message)
    if redacted != message:
        record.msg, record.args = redacted, ()
    return record


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class _Redacting(logging.Formatter):
    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes, not the one at set-up: a caller that
    swaps stderr and closes its own (a test runner invoking a command) leaves no dead stream."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure(json_logs: bool = True, level: int | str = logging.INFO) -> None:
    handler = _CurrentStderr()
    inner: logging.Formatter
    if json_logs:
        inner = JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level"})
    else:
        inner = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(_Redacting(inner))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
