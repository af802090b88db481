"""Micro-batching: concurrent single requests are grouped into one inference call.

Inference runs on one worker thread, off the event loop, so the loop keeps accepting
requests; while one batch runs, the next one fills up. Each batch captures the predictor
once, so a request finishes on the model it started with even if a reload swaps it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sentiops.inference import Prediction, Predictor


@dataclass
class _Item:
    text: str
    future: asyncio.Future


class MicroBatcher:
    def __init__(
        self,
        get_predictor: Callable[[], Predictor | None],
        max_size: int = 32,
        max_wait_ms: float = 2.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.get_predictor = get_predictor
        self.max_size = max_size
        self.max_wait = max_wait_ms / 1000
        self.on_batch = on_batch
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def predict_one(self, text: str) -> tuple[Prediction, str]:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Item(text, future))
        return await future

    async def predict_many(self, texts: list[str]) -> tuple[list[Prediction], str]:
        """A batch request is already a batch: it goes straight to the inference thread."""
        predictor = self._predictor()
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self.executor, predictor.predict, texts)
        if self.on_batch:
            self.on_batch(len(texts))
        return results, predictor.version

    def _predictor(self) -> Predictor:
        predictor = self.get_predictor()
        if predictor is None:
            raise NoModelError("no model is loaded yet")
        return predictor

    async def _collect(self) -> list[_Item]:
        items = [await self.queue.get()]
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while len(items) < self.max_size:
            try:
                items.append(self.queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                items.append(await asyncio.wait_for(self.queue.get(), remaining))
            except TimeoutError:
                break
        return items

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            items = [i for i in items if not i.future.done()]  # skip cancelled requests
            if not items:
                continue
            try:
                predictor = self._predictor()
            except NoModelError as exc:
                for item in items:
                    _settle(item, error=exc)
                continue
            try:
                results = await loop.run_in_executor(self.executor, predictor.predict, [i.text for i in items])
            except Exception:
                # One bad text must not fail its neighbours: retry one by one, so only it fails.
                await self._one_by_one(predictor, items)
                continue
            if self.on_batch:
                self.on_batch(len(items))
            for item, result in zip(items, results, strict=True):
                _settle(item, (result, predictor.version))

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
        item.future.set_result(result)


class NoModelError(RuntimeError):
    pass
