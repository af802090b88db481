"""The micro-batcher on its own: grouping, order, cancellation, failures, no model."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import pytest

from sentiops.inference import Prediction
from sentiops.serving.batcher import MicroBatcher, NoModelError


@dataclass
class FakePredictor:
    """Echoes each text's length as its confidence; fails on texts containing 'boom'."""

    version: str = "7"
    calls: list[list[str]] = field(default_factory=list)
    gate: threading.Event | None = None

    def predict(self, texts: list[str]) -> list[Prediction]:
        if self.gate is not None:
            self.gate.wait(5)
        self.calls.append(list(texts))
        if any("boom" in t for t in texts):
            raise ValueError("cannot tokenize")
        return [Prediction("positive", len(t) / 100, {"negative": 0.0, "positive": 1.0}, len(t), 0) for t in texts]


async def _with_batcher(predictor, body, **kwargs):
    sizes: list[int] = []
    batcher = MicroBatcher(lambda: predictor, on_batch=sizes.append, **kwargs)
    batcher.start()
    try:
        return await body(batcher), sizes
    finally:
        await batcher.stop()


def test_waiting_requests_are_grouped_and_answered_in_their_own_order():
    gate = threading.Event()
    predictor = FakePredictor(gate=gate)

    async def body(batcher):
        first = asyncio.create_task(batcher.predict_one("x"))  # occupies the inference thread
        await asyncio.sleep(0.05)
        rest = [asyncio.create_task(batcher.predict_one("y" * n)) for n in range(2, 12)]
        await asyncio.sleep(0.05)
        gate.set()
        return await first, await asyncio.gather(*rest)

    (first, rest), sizes = asyncio.run(_with_batcher(predictor, body, max_size=32, max_wait_ms=0))
    assert first[0].confidence == pytest.approx(0.01)
    assert [r[0].confidence for r in rest] == pytest.approx([n / 100 for n in range(2, 12)])
    assert all(version == "7" for _, version in rest)
    assert sizes == [1, 10]  # the ten that queued behind the first ran as one batch


def test_max_size_caps_a_batch():
    gate = threading.Event()
    predictor = FakePredictor(gate=gate)

    async def body(batcher):
        tasks = [asyncio.create_task(batcher.predict_one(f"t{i}")) for i in range(9)]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*tasks)

    _, sizes = asyncio.run(_with_batcher(predictor, body, max_size=4, max_wait_ms=0))
    assert max(sizes) <= 4 and sum(sizes) == 9


def test_a_failing_item_fails_alone():
    gate = threading.Event()
    predictor = FakePredictor(gate=gate)

    async def body(batcher):
        blocker = asyncio.create_task(batcher.predict_one("first"))
        await asyncio.sleep(0.05)
        tasks = [asyncio.create_task(batcher.predict_one(t)) for t in ("good one", "boom", "good two")]
        await asyncio.sleep(0.05)
        gate.set()
        await blocker
        return await asyncio.gather(*tasks, return_exceptions=True)

    (good, bad, good2), _ = asyncio.run(_with_batcher(predictor, body, max_size=32, max_wait_ms=0))
    assert isinstance(bad, ValueError)
    assert good[0].confidence == pytest.approx(0.08) and good2[0].confidence == pytest.approx(0.08)
    assert ["good one", "boom", "good two"] in predictor.calls  # tried together first, then one by one


def test_a_cancelled_request_is_skipped_and_the_batcher_keeps_serving():
    gate = threading.Event()
    predictor = FakePredictor(gate=gate)

    async def body(batcher):
        blocker = asyncio.create_task(batcher.predict_one("first"))
        await asyncio.sleep(0.05)
        doomed = asyncio.create_task(batcher.predict_one("cancelled"))
        await asyncio.sleep(0.01)
        doomed.cancel()
        gate.set()
        await blocker
        return await batcher.predict_one("after")

    result, _ = asyncio.run(_with_batcher(predictor, body, max_size=32, max_wait_ms=0))
    assert result[0].confidence == pytest.approx(0.05)
    assert ["cancelled"] not in predictor.calls


def test_no_model_is_a_clear_error():
    async def body(batcher):
        with pytest.raises(NoModelError):
            await batcher.predict_one("hello")
        with pytest.raises(NoModelError):
            await batcher.predict_many(["hello"])

    asyncio.run(_with_batcher(None, body))
