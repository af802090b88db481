"""Shadow scoring: the other model's opinion of answers already sent, never delaying one.

After a caller has its answer, the request's texts may wait here for the model that did not
answer (staging beside production's answers, production beside a canary's). A task of its own
scores them `shadow_batch_size` at a time on a thread of its own, and starts a chunk only when
the micro-batcher has rested for `shadow_idle_ms` (nothing waiting, running, or arrived): under
load it never starts, the queue fills and new texts are shed (counted in
`sentiops_shadow_shed_total`), never queued without bound. Its own thread, not the batcher's:
a slow staging model then slows only the shadow (`make bench-shadow` and
tests/serving/test_live_trial.py measured both; docs/live-trials.md).

Each scored text goes to the prediction log as a `shadow` row that names the answer it shadows
(`shadow_of`), and agreement with that answer feeds the metrics and the canary's guard.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from opentelemetry.trace import SpanContext, Tracer

from sentiops import tracing
from sentiops.data.predictions import SHADOW, new_prediction_id
from sentiops.inference import Prediction, Predictor
from sentiops.serving.metrics import ServiceMetrics
from sentiops.serving.prediction_log import Logged, PredictionLog

log = logging.getLogger(__name__)


@dataclass
class Shadowed:
    """One answer sent to a caller, waiting for the other model's opinion."""

    text: str
    answer: Prediction
    prediction_id: str
    request_id: str
    answered_by: str  # the version that answered
    span: SpanContext | None = None  # the request's span (traced only)


@dataclass
class ShadowChunk:
    predictor: Predictor
    items: list[Shadowed]


class ShadowQueue:
    def __init__(
        self,
        max_texts: int,
        chunk_size: int,
        idle_ms: float,
        prediction_log: PredictionLog,
        metrics: ServiceMetrics,
        on_outcome: Callable[[str, str, bool | None, str], None] = lambda shadow, answered, agreed, text: None,
        tracer: Tracer | None = None,
    ) -> None:
        self.tracer = tracer
        self.max_texts = max_texts
        self.chunk_size = chunk_size
        self.idle = idle_ms / 1000
        self.prediction_log = prediction_log
        self.metrics = metrics
        # (shadow version, answering version, agreed with the answer (None: the shadow model failed),
        # the text)
        self.on_outcome = on_outcome
        self.rested: Callable[[float], bool] = lambda seconds: True  # the micro-batcher's
        self._waiting: deque[tuple[Predictor, Shadowed]] = deque()
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
            while not self.rested(self.idle):  # requests first: start only once the batcher rests
                await asyncio.sleep(self.idle or 0.001)
            chunk = self.take()
            if chunk is None:
                continue
            texts = [item.text for item in chunk.items]
            span = None
            if self.tracer is not None:
                spans = (item.span for item in chunk.items)
                span = tracing.joined(
                    self.tracer, "shadow.score", spans, texts=len(texts), version=chunk.predictor.version
                )
            try:
                results = await loop.run_in_executor(self._executor, chunk.predictor.predict, texts)
            except Exception as exc:  # the shadow model's failure is its own, never a request's
                self.scored(chunk, None, exc)
            else:
                self.scored(chunk, results, None)
            finally:
                if span is not None:
                    span.end()

    def __len__(self) -> int:
        return len(self._waiting)

    def offer(self, predictor: Predictor, items: list[Shadowed], share: float) -> int:
        """Queue `share` of these answers for `predictor`; beyond the queue's room they are shed.
        Returns how many were queued."""
        chosen = items if share >= 1 else [item for item in items if random.random() < share]
        room = max(0, self.max_texts - len(self._waiting))
        for item in chosen[:room]:
            self._waiting.append((predictor, item))
        shed = len(chosen) - min(room, len(chosen))
        if shed:
            self.metrics.shadow_shed.inc(shed)
        if chosen[:room]:
            self._arrived.set()
        return min(room, len(chosen))

    def take(self) -> ShadowChunk | None:
        """Up to `chunk_size` waiting texts for one model."""
        if not self._waiting:
            return None
        predictor = self._waiting[0][0]
        items: list[Shadowed] = []
        while self._waiting and len(items) < self.chunk_size and self._waiting[0][0] is predictor:
            items.append(self._waiting.popleft()[1])
        return ShadowChunk(predictor, items)

    def scored(self, chunk: ShadowChunk, results: list[Prediction] | None, error: Exception | None) -> None:
        predictor = chunk.predictor
        if results is None:
            self.metrics.shadow_errors.inc(len(chunk.items))
            log.warning("shadow scoring failed", extra={"version": predictor.version, "error": repr(error)})
            for item in chunk.items:
                self.on_outcome(predictor.version, item.answered_by, None, item.text)
            return
        now = dt.datetime.now(dt.UTC)
        records = []
        for item, result in zip(chunk.items, results, strict=True):
            agreed = result.label == item.answer.label
            self.metrics.observe_pair(predictor.version, item.answered_by, agreed)
            self.on_outcome(predictor.version, item.answered_by, agreed, item.text)
            records.append(
                Logged(
                    new_prediction_id(now),
                    now,
                    item.request_id,
                    predictor.version,
                    predictor.backend,
                    SHADOW,
                    result,
                    item.text,
                    shadow_of=item.prediction_id,
                    span=item.span,
                )
            )
        self.metrics.observe(SHADOW, predictor.version, results)
        self.prediction_log.record(records)
