"""Live trials of `staging`: who answers a request (canary or production), and the shadow that follows.

`LiveTrial.predict` answers a request: staging when the caller is in the canary (canary.py),
else production through the micro-batcher as always. Staging failing or slower than
`canary_timeout_ms` is answered by production instead: a canary caller never gets an error
staging caused. `LiveTrial.shadow` then offers the answered texts to the model that did not
answer (shadow.py), after the response is computed and off its path.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from opentelemetry.trace import SpanContext

from sentiops.config import Settings
from sentiops.data.predictions import ANSWERED_ROLES
from sentiops.inference import Prediction, Predictor
from sentiops.serving.batcher import MicroBatcher, Overloaded
from sentiops.serving.canary import Canary
from sentiops.serving.manager import ModelManager
from sentiops.serving.shadow import Shadowed, ShadowQueue

PRODUCTION, CANARY = ANSWERED_ROLES


@dataclass
class Answer:
    predictions: list[Prediction]
    version: str
    engine: str
    role: str  # production or canary


class LiveTrial:
    def __init__(
        self, settings: Settings, manager: ModelManager, batcher: MicroBatcher, shadow: ShadowQueue, canary: Canary
    ) -> None:
        self.settings = settings
        self.manager = manager
        self.batcher = batcher
        self.shadow_queue = shadow
        self.canary = canary
        shadow.on_outcome = self._shadow_outcome
        shadow.rested = batcher.rested
        manager.after_poll.append(canary.refresh)

    async def predict(self, texts: list[str], caller: str, pinned: Predictor | None = None) -> Answer:
        """`pinned`: a caller named this (production) version: it answers, outside the trial (never a
        canary, not timed for the canary's guard)."""
        staging = self.manager.staging_model() if pinned is None else None
        trial = staging.version if staging is not None else None
        if staging is not None and self.canary.wants(caller, trial):
            answer = await self._canary(texts, staging)
            if answer is not None:
                return answer
        started = time.perf_counter()
        if len(texts) == 1:
            prediction, version = await self.batcher.predict_one(texts[0], pinned)
            predictions = [prediction]
            if trial is not None and self.canary.active(trial):
                self.canary.production_call(trial, time.perf_counter() - started)
        else:
            predictions, version = await self.batcher.predict_many(texts, pinned)
        current = pinned or self.manager.current()
        engine = current.backend if current is not None and current.version == version else ""
        return Answer(predictions, version, engine, PRODUCTION)

    async def _canary(self, texts: list[str], staging: Predictor) -> Answer | None:
        """Staging's answer, or None (counted against staging) when it fails or is too slow."""
        pieces = max(1, math.ceil(len(texts) / self.settings.microbatch_max_size))
        timeout = self.settings.canary_timeout_ms / 1000 * pieces
        started = time.perf_counter()
        try:
            if len(texts) == 1:
                prediction, _ = await asyncio.wait_for(self.batcher.predict_one(texts[0], staging), timeout)
                predictions = [prediction]
            else:
                predictions, _ = await asyncio.wait_for(self.batcher.predict_many(texts, staging), timeout)
        except Overloaded:
            raise  # the service's load, not staging's fault: the caller gets the 503
        except TimeoutError:
            self.canary.staging_call(staging.version, "timeout")
            return None
        except Exception:
            self.canary.staging_call(staging.version, "error")
            return None
        seconds = time.perf_counter() - started if len(texts) == 1 else None
        self.canary.staging_call(staging.version, "ok", seconds)
        return Answer(predictions, staging.version, staging.backend, CANARY)

    def shadow(
        self,
        answer: Answer,
        texts: list[str],
        prediction_ids: list[str],
        request_id: str,
        span: SpanContext | None = None,
    ) -> None:
        """Offer the answered texts to the model that did not answer them."""
        other = self.manager.staging_model() if answer.role == PRODUCTION else self.manager.current()
        if other is None or other.version == answer.version or self.settings.shadow_share <= 0:
            return
        items = [
            Shadowed(text, prediction, pid, request_id, answer.version, span)
            for text, prediction, pid in zip(texts, answer.predictions, prediction_ids, strict=True)
        ]
        self.shadow_queue.offer(other, items, self.settings.shadow_share)

    def _shadow_outcome(self, shadow: str, answered: str, agreed: bool | None, text: str) -> None:
        staging = self.manager.staging_model()
        trial = staging.version if staging is not None else None
        if trial is None or trial not in (shadow, answered):
            return
        if agreed is None:
            if shadow == trial:
                self.canary.staging_call(trial, "error", canary=False)
        else:
            self.canary.pair(trial, agreed, text)
