"""Alert delivery: Slack incoming webhook (slack-sdk) and a generic JSON webhook.

URLs come from env or a mounted secret file and never appear in logs, outputs or errors:
every message that could carry one passes through `redact`. Timeouts, connection errors and
5xx are retried with backoff; 4xx are not (the request itself is wrong).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.error import URLError

import httpx
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.webhook import WebhookClient

from sentiops.config import Settings, read_secret
from sentiops.files import write_json_atomic

log = logging.getLogger(__name__)


@dataclass
class Delivery:
    channel: str
    delivered: bool
    attempts: int
    status: int | None = None
    error: str | None = None


class Notifier:
    def __init__(self, settings: Settings, backoff_seconds: float = 1.0) -> None:
        self.settings = settings
        self.backoff = backoff_seconds
        self.slack_url = read_secret(settings.slack_webhook_url, settings.slack_webhook_url_file)
        self.webhook_url = read_secret(settings.alert_webhook_url, settings.alert_webhook_url_file)

    @property
    def configured(self) -> bool:
        return bool(self.slack_url or self.webhook_url)

    def redact(self, text: str) -> str:
        """Error texts (exceptions of HTTP libraries name the URL) go to files and outputs too."""
        for secret in (self.slack_url, self.webhook_url):
            if secret:
                text = text.replace(secret, "[redacted webhook URL]")
        return text

    def send(self, title: str, lines: list[str], payload: dict[str, Any]) -> list[Delivery]:
        deliveries = []
        if self.slack_url:
            deliveries.append(self._slack(title, lines))
        if self.webhook_url:
            deliveries.append(self._webhook({"title": title, "lines": lines, **payload}))
        for d in deliveries:
            level = logging.INFO if d.delivered else logging.ERROR
            log.log(level, "alert %s", "delivered" if d.delivered else "failed", extra=asdict(d))
        return deliveries

    def _slack(self, title: str, lines: list[str]) -> Delivery:
        retries = self.settings.alert_retries
        interval = BackoffRetryIntervalCalculator(backoff_factor=self.backoff)
        handlers = [
            ConnectionErrorRetryHandler(retries, interval, [URLError, ConnectionError, TimeoutError, OSError]),
            ServerErrorRetryHandler(retries, interval),
        ]
        sdk_logger = logging.getLogger("sentiops.slack")  # slack-sdk logs the URL at DEBUG; logs.py redacts it
        client = WebhookClient(
            self.slack_url or "",
            timeout=int(max(1, self.settings.alert_timeout_seconds)),
            retry_handlers=handlers,
            logger=sdk_logger,
        )
        text = f"*{title}*\n" + "\n".join(lines)
        try:
            response = client.send(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
        except Exception as exc:  # network failure after retries
            return Delivery("slack", False, retries + 1, None, self.redact(f"{type(exc).__name__}: {exc}"))
        ok = 200 <= response.status_code < 300
        error = None if ok else self.redact(f"HTTP {response.status_code}: {response.body[:200]}")
        return Delivery("slack", ok, 1, response.status_code, error)

    def _webhook(self, payload: dict[str, Any]) -> Delivery:
        attempts, last_error, status = 0, None, None
        for attempt in range(self.settings.alert_retries + 1):
            attempts = attempt + 1
            try:
                response = httpx.post(self.webhook_url or "", json=payload, timeout=self.settings.alert_timeout_seconds)
                status = response.status_code
                if status < 300:
                    return Delivery("webhook", True, attempts, status)
                last_error = f"HTTP {status}"
                if status < 500:
                    break  # the request is wrong; repeating it will not help
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if attempt < self.settings.alert_retries:
                time.sleep(self.backoff * 2**attempt)
        return Delivery("webhook", False, attempts, status, self.redact(last_error or "unknown error"))


def should_alert(state_file: Path, key: str, severity: float, repeat_hours: float, now: float | None = None) -> bool:
    """De-duplication: alert for a condition once, again if it worsens or `repeat_hours` pass."""
    now = time.time() if now is None else now
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    last = state.get(key)
    if last is None:
        return True
    return severity > last["severity"] or now - last["time"] >= repeat_hours * 3600


def remember_alert(state_file: Path, key: str, severity: float, now: float | None = None) -> None:
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    state[key] = {"severity": severity, "time": time.time() if now is None else now}
    state_file.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(state_file, state)
