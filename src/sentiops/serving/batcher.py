"""Micro-batching: concurrent requests are grouped into one inference call, within bounds.

Inference runs on one worker thread, off the event loop, so the loop keeps accepting
requests; while one batch runs, the next one fills up. Each batch captures the predictor
once, so a request finishes on the model it started with even if a reload swaps it.

Under load the batches would settle at half their size: the callers a batch answers send their
next requests while the following batch (the other half) runs, so two cohorts alternate. After a
batch of a quarter of `max_size` or more, the next one waits up to `fill_wait_ms` for more
texts (it stops as soon as it is full); after smaller batches (light traffic) it never waits, so a
lone caller's latency is untouched. Numbers in docs/engines.md ("Serving").

Single requests and the texts of batch requests wait in two queues. Singles come first: while
singles wait, a micro-batch takes at most an eighth of its places from batch texts (measured on
2 cores with a quarter, singles kept only 32-40% of their rate alone); while none
wait but some arrived in the last second, half; only batch traffic alone gets whole micro-batches.
So a 256-text request is scored in pieces between single requests, singles keep most of their
rate, and the batch still moves every round: neither starves, whatever the timing.

Admission is bounded: a single request, or a batch request while another batch's texts wait,
is refused at once with Overloaded (503 + Retry-After) when the expected wait (queued texts
times the measured time per text) passes a limit, instead of letting latency grow without
bound. A batch request when no other batch waits is always admitted (within the hard cap on
queued texts): the service is below capacity for batches then, and a measured time per text
taken from small single-request batches overstates what a batch costs.

Traced (a tracer given: sentiops/tracing.py), each request's wait is a `batcher.queue` span under
its request; the micro-batch it joined is a `batcher.batch` span under the first request's wait and
linked from every other one's, and the inference call an `engine.infer` span under the batch.

`rested` tells the shadow scorer (serving/shadow.py) when nothing has waited or run here for a
while: it starts its work only then.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from opentelemetry.trace import Span, Tracer, set_span_in_context

from sentiops import tracing
from sentiops.inference import Prediction, Predictor


class NoModelError(RuntimeError):
    pass


class Overloaded(RuntimeError):
    def __init__(self, message: str, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after_seconds))


@dataclass
class _Item:
    text: str
    future: asyncio.Future[tuple[Prediction, str]]
    predictor: Predictor | None = None  # batch requests pin theirs; singles use the current one
    span: Span | None = None  # its wait in the queue (traced only)
    last_piece: bool = True  # the last text of its request: its wait ends with the batch taking it


class MicroBatcher:
    def __init__(
        self,
        get_predictor: Callable[[], Predictor | None],
        max_size: int = 32,
        max_wait_ms: float = 2.0,
        on_batch: Callable[[int], None] | None = None,
        max_queue_texts: int = 4096,
        max_queue_wait_ms: float = 1000.0,
        fill_wait_ms: float = 0.0,
        tracer: Tracer | None = None,
    ) -> None:
        self.get_predictor = get_predictor
        self.tracer = tracer
        self.max_size = max_size
        self.max_wait = max_wait_ms / 1000
        self.on_batch = on_batch
        self.max_queue_texts = max_queue_texts
        self.max_queue_wait = max_queue_wait_ms / 1000
        self.fill_wait = fill_wait_ms / 1000
        self._last_size = 0  # texts in the batch cut last
        self._running = False
        self._last_busy = float("-inf")  # when a request last arrived or a batch last ended
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self.singles: deque[_Item] = deque()
        self.bulk: deque[_Item] = deque()
        self.seconds_per_text = 0.0  # moving average of measured inference time
        self._last_single = float("-inf")  # when a single request last arrived (monotonic)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)

    def rested(self, seconds: float) -> bool:
        """Nothing queued or running, and no request arrived or finished for `seconds`."""
        return not self.queued and not self._running and time.monotonic() - self._last_busy >= seconds

    @property
    def queued(self) -> int:
        return len(self.singles) + len(self.bulk)

    def expected_wait(self, extra: int = 0) -> float:
        return (self.queued + extra) * self.seconds_per_text

    def _admit(self, n: int, batch: bool = False) -> None:
        if batch:
            if not self.bulk and self.queued + n <= self.max_queue_texts:
                return  # the only batch waiting: below capacity for batches, it is served
            wait = self.expected_wait(n)
        else:
            # A single waits for the singles ahead of it, not for batch texts: those take at most
            # an eighth of each micro-batch while singles wait.
            share = 1.0 if not self.bulk else self.max_size / max(1, self.max_size - self.max_size // 8)
            wait = (len(self.singles) + n) * self.seconds_per_text * share
        if self.queued + n > self.max_queue_texts or wait > self.max_queue_wait:
            raise Overloaded(
                f"overloaded: {self.queued} texts queued, expected wait {wait * 1000:.0f} ms "
                f"(limit {self.max_queue_wait * 1000:.0f} ms); retry shortly",
                wait,
            )

    async def predict_one(self, text: str, predictor: Predictor | None = None) -> tuple[Prediction, str]:
        """One text, on `predictor` (a canary's staging) or on whatever serves when its batch is cut."""
        if predictor is None:
            self._predictor()  # no model: say so at once rather than queueing
        self._admit(1)
        item = _Item(text, asyncio.get_running_loop().create_future(), predictor)
        if self.tracer is not None:
            item.span = self.tracer.start_span("batcher.queue")
        self._last_single = self._last_busy = time.monotonic()
        self.singles.append(item)
        self._wakeup.set()
        return await item.future

    async def predict_many(self, texts: list[str], predictor: Predictor | None = None) -> tuple[list[Prediction], str]:
        """Texts of one request, scored in pieces between single requests, all on one model."""
        predictor = predictor or self._predictor()
        self._admit(len(texts), batch=True)
        loop = asyncio.get_running_loop()
        items = [_Item(text, loop.create_future(), predictor) for text in texts]
        if self.tracer is not None:  # one wait for the request's texts, however many pieces they go in
            span = self.tracer.start_span("batcher.queue", attributes={"texts": len(texts)})
            for item in items:
                item.span, item.last_piece = span, False
            items[-1].last_piece = True
        self.bulk.extend(items)
        self._last_busy = time.monotonic()
        self._wakeup.set()
        results = await asyncio.gather(*(item.future for item in items))
        return [prediction for prediction, _ in results], predictor.version

    def _predictor(self) -> Predictor:
        predictor = self.get_predictor()
        if predictor is None:
            raise NoModelError("no model is loaded yet")
        return predictor

    def _bulk_places(self) -> int:
        """How many batch texts the next micro-batch takes (see the module's docstring)."""
        if self.singles:
            return max(1, self.max_size // 8)
        if time.monotonic() - self._last_single < 1.0:
            return max(1, self.max_size // 2)
        return self.max_size

    async def _collect(self) -> list[_Item]:
        while not self.queued:
            self._wakeup.clear()
            await self._wakeup.wait()
        await asyncio.sleep(0)  # callers just answered may ask again before the next batch is cut
        if self.max_wait > 0 and self.queued < self.max_size:
            await asyncio.sleep(self.max_wait)  # let a few more requests arrive
        elif self.fill_wait > 0 and self._last_size >= self.max_size // 4:
            await self._fill(time.monotonic() + self.fill_wait)
        bulk_take = min(len(self.bulk), self._bulk_places())
        items = [self.singles.popleft() for _ in range(min(len(self.singles), self.max_size - bulk_take))]
        items += [self.bulk.popleft() for _ in range(bulk_take)]
        return items

    async def _fill(self, deadline: float) -> None:
        """Wait until a full batch waits or `deadline` passes (under load: see the module docstring)."""
        while self.queued < self.max_size and (left := deadline - time.monotonic()) > 0:
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), left)

    async def _run(self) -> None:
        while True:
            items = [i for i in await self._collect() if not i.future.done()]  # skip cancelled requests
            self._last_size = len(items)
            if not items:
                continue
            try:
                current = self._predictor() if any(i.predictor is None for i in items) else None
            except NoModelError as exc:
                for item in items:
                    _settle(item, error=exc)
                continue
            groups: dict[int, tuple[Predictor, list[_Item]]] = {}
            for item in items:
                predictor = item.predictor or current
                assert predictor is not None
                groups.setdefault(id(predictor), (predictor, []))[1].append(item)
            self._running = True
            try:
                for predictor, group in groups.values():
                    await self._score(predictor, group)
            finally:
                self._running = False

    async def _score(self, predictor: Predictor, items: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        batch, engine = self._trace_batch(predictor, items) if self.tracer is not None else (None, None)
        try:
            results = await loop.run_in_executor(self.executor, predictor.predict, [i.text for i in items])
        except Exception:
            # One bad text must not fail its neighbours: retry one by one, so only it fails.
            await self._one_by_one(predictor, items)
            return
        finally:
            for span in (engine, batch):
                if span is not None:
                    span.end()
        self._last_busy = time.monotonic()
        per_text = (time.perf_counter() - started) / len(items)
        self.seconds_per_text = per_text if not self.seconds_per_text else 0.8 * self.seconds_per_text + 0.2 * per_text
        if self.on_batch:
            self.on_batch(len(items))
        for item, result in zip(items, results, strict=True):
            _settle(item, (result, predictor.version))

    def _trace_batch(self, predictor: Predictor, items: list[_Item]) -> tuple[Span, Span]:
        """The batch's span and its engine call's; each request's wait ends, linked to the batch."""
        assert self.tracer is not None
        waits = list({id(i.span): i.span for i in items if i.span is not None}.values())
        ending = {id(i.span) for i in items if i.span is not None and i.last_piece}
        batch = tracing.joined(
            self.tracer,
            "batcher.batch",
            [w.get_span_context() for w in waits],
            texts=len(items),
            requests=len(waits),
            model_version=predictor.version,
        )
        for wait in waits:
            wait.add_link(batch.get_span_context())
            if id(wait) in ending:  # a batch request's wait ends with the batch taking its last text
                wait.end()
        engine = self.tracer.start_span(
            "engine.infer", context=set_span_in_context(batch), attributes={"engine": predictor.backend}
        )
        return batch, engine

    async def _one_by_one(self, predictor: Predictor, items: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        for item in items:
            try:
                [result] = await loop.run_in_executor(self.executor, predictor.predict, [item.text])
            except Exception as exc:  # the failure belongs to this request, not to the loop
                _settle(item, error=exc)
            else:
                _settle(item, (result, predictor.version))


def _settle(item: _Item, result: tuple[Prediction, str] | None = None, error: Exception | None = None) -> None:
    if item.future.done():  # the caller gave up (cancelled or timed out)
        return
    if error is not None:
        item.future.set_exception(error)
    else:
        assert result is not None
        item.future.set_result(result)
