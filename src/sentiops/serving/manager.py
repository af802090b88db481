"""Which models serve: loads, verifies, warms and atomically swaps registry versions.

A reload (poll or admin call) loads the new version on a side thread while the old one keeps
serving; the swap is a single reference assignment. A version that fails to load or verify
is logged and counted, and the old model stays.

`staging`, when it names another version than production, is loaded the same way beside it
(for shadow scoring and canaries, serving/trial.py), on `staging_threads` intra-op threads; its
failure never touches production. Promoted, it is loaded again as production.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sentiops.config import Settings
from sentiops.inference import Predictor
from sentiops.monitoring.realized import newest_realized
from sentiops.registry import Registry, RegistryError
from sentiops.serving.metrics import ServiceMetrics

log = logging.getLogger(__name__)


class ReloadError(RuntimeError):
    pass


class ModelManager:
    def __init__(self, settings: Settings, metrics: ServiceMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.registry = Registry(settings.registry)
        self.predictor: Predictor | None = None
        self.staging: Predictor | None = None
        self.after_poll: list[Callable[[], None]] = []  # run off the loop after each poll round
        self.failed: dict[str, str] = {}  # version -> error, so polling does not retry in a loop
        self._load_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.predictor is not None

    def current(self) -> Predictor | None:
        return self.predictor

    def reload(self, force: bool = False) -> dict[str, Any]:
        """Load whatever `production` and `staging` name if it differs from what is loaded (blocking)."""
        with self._load_lock:
            try:
                return self._follow_production(force)
            finally:
                self._follow_staging(force)

    def _load(self, target: str, serving: str | None, threads: int = 0, spinning: bool = True) -> Predictor:
        settings = self.settings.model_copy(update={"intra_op_threads": threads}) if threads else self.settings
        try:
            predictor = Predictor.from_settings(settings, target, spinning=spinning)
            predictor.warm_up()
        except Exception as exc:
            self.failed[target] = str(exc)
            self.metrics.reloads.labels("failure").inc()
            log.error("model load failed", extra={"version": target, "error": str(exc), "serving": serving})
            raise ReloadError(f"version {target} could not be loaded: {exc}; still serving {serving}") from exc
        self.failed.pop(target, None)
        return predictor

    def _follow_production(self, force: bool) -> dict[str, Any]:
        try:
            target = self.registry.resolve("production")
        except RegistryError as exc:
            raise ReloadError(str(exc)) from exc
        serving = self.predictor.version if self.predictor else None
        if target == serving and not force:
            return {"changed": False, "version": serving}
        if target in self.failed and not force:
            raise ReloadError(f"version {target} failed before: {self.failed[target]}")
        started = time.perf_counter()
        predictor = self._load(target, serving)
        self._swap(predictor, target, serving, started)
        return {"changed": True, "version": target, "previous": serving}

    def _follow_staging(self, force: bool) -> None:
        """Load staging beside production; drop it when it is gone, names production, or fails to
        load. Never raises: production serves whatever happens to staging."""
        loaded = self.staging.version if self.staging else None
        try:
            target = self.registry.aliases().get("staging")
        except Exception as exc:  # an alias file being replaced: the next round reads it again
            log.debug("staging alias not read: %s", exc)
            return
        if target == (self.predictor.version if self.predictor else None):
            target = None
        if target == loaded and not force:
            return
        self.staging = None
        if target is not None and (force or target not in self.failed):
            with contextlib.suppress(ReloadError):  # logged and counted by _load
                # Its idle threads sleep rather than spin: spinning, two models' thread pools
                # fought for the cores and production's p50 tripled (docs/live-trials.md).
                self.staging = self._load(target, loaded, self.settings.staging_threads, spinning=False)
        version = self.staging.version if self.staging else None
        temperature = self.registry.folder(version).metrics().temperature if version else None
        self.metrics.staging_loaded(version, self.staging.backend if self.staging else "", temperature)
        if version != loaded:
            log.info("staging loaded" if version else "staging dropped", extra={"version": version, "previous": loaded})

    def staging_model(self) -> Predictor | None:
        return self.staging

    def _swap(self, predictor: Predictor, target: str, serving: str | None, started: float) -> None:
        self.predictor = predictor  # the atomic swap
        self.metrics.reloads.labels("success").inc()
        files = self.registry.folder(target)
        reference = files.reference()
        shares = reference.class_shares if reference else {}
        self.metrics.model_loaded(target, predictor.backend, files.metrics().temperature, shares)
        log.info(
            "model loaded",
            extra={"version": target, "previous": serving, "seconds": round(time.perf_counter() - started, 3)},
        )

    async def poll_forever(self) -> None:
        """Check the production alias every `reload_poll_seconds`; load the first model too.

        It survives every error: a volume that fails to read (an NFS hiccup, EIO), an alias file
        being replaced, a version that fails to load. Each is logged, counted as a failed reload
        and retried, backing off up to a minute while it keeps failing; `/healthz` fails if this
        task ever ends, so the kubelet restarts the pod. Each round also reads the newest realized
        accuracy of the drift history (a gauge)."""
        failures = 0
        while True:
            delay = self.settings.reload_poll_seconds
            try:
                await asyncio.to_thread(self.reload)
                failures = 0
            except ReloadError as exc:
                log.debug("no reload: %s", exc)
            except Exception as exc:
                failures += 1
                self.metrics.reloads.labels("failure").inc()
                delay = min(60.0, self.settings.reload_poll_seconds * 2 ** min(failures, 6))
                log.error("model poll failed; retrying", extra={"error": repr(exc), "retry_in_s": delay})
            for hook in self.after_poll:
                try:
                    await asyncio.to_thread(hook)
                except Exception as exc:  # e.g. the canary's stop file being rewritten: next round
                    log.debug("poll hook failed: %s", exc)
            try:
                realized = await asyncio.to_thread(newest_realized, self.settings.results)
                if realized is not None:
                    self.metrics.realized_accuracy.set(realized)
            except Exception as exc:  # a history being rewritten is read again next round
                log.debug("realized accuracy not read: %s", exc)
            await asyncio.sleep(delay)
