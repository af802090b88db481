"""The canary: which callers staging answers, and the guard that stops it by itself.

A caller is in the canary when a hash of its key (the X-Caller-Key header, else the request id)
falls below `canary_share`: the same caller gets the same model for as long as the share and
staging stay. The guard watches staging's last `canary_guard_window` calls (canary answers and
shadow scoring), its canary latency beside production's in the same window, and its agreement
with production on shadow pairs; past a threshold (config.py gives each with its reason) it
stops the canary for that staging version: a line in results/live/canary_stops.jsonl, an alert,
and `sentiops_canary_stops_total`. Replicas read that file on every model poll, so a stop by
one stops all; a new staging version starts a canary afresh. Nothing here changes an alias.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from sentiops.config import Settings
from sentiops.data.predictions import text_hash
from sentiops.files import append_line
from sentiops.monitoring.alerts import Notifier
from sentiops.monitoring.live import canary_stops, canary_stops_file
from sentiops.serving.metrics import ServiceMetrics

log = logging.getLogger(__name__)


def bucket(key: str) -> float:
    """A caller's place in [0, 1): uniform over keys, the same for a key on every replica."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


class Canary:
    def __init__(self, settings: Settings, metrics: ServiceMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.share = settings.canary_share
        self.path = canary_stops_file(settings.results)
        self.stopped: dict[str, dict[str, Any]] = {}  # staging version -> its stop record
        self.unwritten: list[dict[str, Any]] = []  # stops the volume refused: retried on every poll
        self.version: str | None = None  # the staging version the windows below are about
        self._reset(None)
        self._lock = threading.Lock()  # the poll thread reads stops while the loop records

    def _reset(self, version: str | None) -> None:
        window = self.settings.canary_guard_window
        self.version = version
        self.calls: deque[str] = deque(maxlen=window)  # ok / error / timeout, staging's calls
        self.staging_seconds: deque[float] = deque(maxlen=window)
        self.production_seconds: deque[float] = deque(maxlen=window)
        self.agreement: deque[bool] = deque(maxlen=window)
        # The texts behind those pairs: a text already in the window is not counted again (one
        # tweet sent 300 times must not fill the window with one opinion).
        self.pair_texts: deque[str] = deque(maxlen=window)

    # -- routing -------------------------------------------------------------------------------
    def active(self, staging: str | None) -> bool:
        on = staging is not None and self.share > 0 and staging not in self.stopped
        self.metrics.canary_active.set(1 if on else 0)
        return on

    def wants(self, key: str, staging: str | None) -> bool:
        """Does staging answer this caller?"""
        return self.active(staging) and bucket(key) < self.share

    # -- what the guard watches ------------------------------------------------------------------
    def _windows(self, staging: str) -> None:
        if staging != self.version:
            self._reset(staging)

    def staging_call(self, staging: str, outcome: str, seconds: float | None = None, canary: bool = True) -> None:
        self._windows(staging)
        self.calls.append(outcome)
        if canary:
            self.metrics.canary_requests.labels(staging, outcome).inc()
            if outcome == "ok" and seconds is not None:
                self.staging_seconds.append(seconds)
        self.check(staging)

    def production_call(self, staging: str, seconds: float) -> None:
        self._windows(staging)
        self.production_seconds.append(seconds)

    def pair(self, staging: str, agreed: bool, text: str) -> None:
        self._windows(staging)
        key = text_hash(text)  # as the prediction log keys texts
        if key in self.pair_texts:
            return
        self.pair_texts.append(key)
        self.agreement.append(agreed)
        self.check(staging)

    def check(self, staging: str) -> str | None:
        """Stop the canary when a threshold is crossed; returns the reason, or None. It runs on every
        staging call and shadow pair, so each figure is computed only once its window is full enough."""
        if not self.active(staging):
            return None
        s, reasons = self.settings, []
        if len(self.calls) >= s.canary_guard_min_n:
            ratio = sum(c != "ok" for c in self.calls) / len(self.calls)
            if ratio > s.canary_max_error_ratio:
                reasons.append(f"error or timeout ratio {ratio:.3f} > {s.canary_max_error_ratio}")
        if min(len(self.staging_seconds), len(self.production_seconds)) >= s.canary_guard_min_n:
            staging_p99, production_p99 = self._p99(self.staging_seconds), self._p99(self.production_seconds)
            ratio, excess = staging_p99 / production_p99, staging_p99 - production_p99
            if ratio > s.canary_max_p99_ratio and excess * 1000 > s.canary_min_p99_excess_ms:
                reasons.append(
                    f"p99 latency {ratio:.2f}x production's > {s.canary_max_p99_ratio}x ({excess * 1000:.0f} ms more)"
                )
        if len(self.agreement) >= s.canary_guard_min_n:
            agreement = sum(self.agreement) / len(self.agreement)
            if agreement < s.canary_min_agreement:
                reasons.append(f"agreement with production {agreement:.3f} < {s.canary_min_agreement}")
        if not reasons:
            return None
        self.stop(staging, "; ".join(reasons), self.numbers())
        return reasons[0]

    @staticmethod
    def _p99(values: deque[float]) -> float:
        return float(np.percentile(list(values), 99)) if values else 0.0

    def numbers(self) -> dict[str, Any]:
        """Everything the guard watches, for the stop record."""
        calls = list(self.calls)
        p99 = {"staging": self._p99(self.staging_seconds), "production": self._p99(self.production_seconds)}
        return {
            "calls": len(calls),
            "errors": calls.count("error"),
            "timeouts": calls.count("timeout"),
            "error_ratio": sum(c != "ok" for c in calls) / len(calls) if calls else 0.0,
            "staging_p99_s": p99["staging"] or None,
            "production_p99_s": p99["production"] or None,
            "p99_ratio": p99["staging"] / p99["production"] if p99["staging"] and p99["production"] else None,
            "pairs": len(self.agreement),
            "agreement": sum(self.agreement) / len(self.agreement) if self.agreement else None,
        }

    # -- the stop --------------------------------------------------------------------------------
    def stop(self, staging: str, reason: str, numbers: dict[str, Any]) -> None:
        record = {
            "time": time.time(),
            "version": staging,
            "pod": self.settings.pod_name,
            "reason": reason,
            "numbers": numbers,
            "share": self.share,
        }
        with self._lock:
            self.stopped[staging] = record
        self.metrics.canary_stops.labels(staging).inc()
        self.metrics.canary_active.set(0)
        log.error("canary stopped", extra={"version": staging, "reason": reason})
        # Writing the record and alerting touch the volume and the network: off the event loop.
        threading.Thread(target=self._record_and_alert, args=(record,), name="canary-stop", daemon=True).start()

    def _record_and_alert(self, record: dict[str, Any]) -> None:
        if not self._write(record):
            with self._lock:
                self.unwritten.append(record)
        notifier = Notifier(self.settings)
        if notifier.configured:
            title = f"sentiops: canary of version {record['version']} stopped"
            lines = [record["reason"], f"by {record['pod']}; production answers every caller again."]
            notifier.send(title, lines, {"kind": "canary_stop", **record})

    def _write(self, record: dict[str, Any]) -> bool:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            append_line(self.path, json.dumps(record))
            return True
        except OSError as exc:
            # Not lost: this replica keeps the canary off and retries on every poll; until it is
            # written, `promote --if-live` cannot see it (the reason promote refuses an unreadable
            # results/live, and operators see the error here and the alert).
            log.error("canary stop not recorded yet: retried on the next poll", extra={"error": str(exc)})
            return False

    def refresh(self) -> None:
        """Write stops the volume refused before, then read stops recorded by any replica (the model
        poller calls this)."""
        with self._lock:
            unwritten, self.unwritten = self.unwritten, []
        failed = [record for record in unwritten if not self._write(record)]
        with self._lock:
            self.unwritten = failed + self.unwritten
        try:
            found = canary_stops(self.settings)
        except OSError as exc:
            log.error("canary stops cannot be read", extra={"error": str(exc)})
            return
        with self._lock:
            for version, record in found.items():
                self.stopped.setdefault(version, record)
