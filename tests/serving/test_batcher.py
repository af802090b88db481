"""The micro-batcher on its own: grouping, order, cancellation, failures, no model."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import pytest

from sentiops.inference import Prediction
from sentiops.serving.batcher import MicroBatcher, NoModelError, Overloaded


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


def test_after_a_large_batch_the_next_waits_to_fill_but_a_lone_caller_never_waits():
    gate = threading.Event()
    predictor = FakePredictor(gate=gate)

    async def body(batcher):
        blocker = asyncio.create_task(batcher.predict_one("first"))
        await asyncio.sleep(0.05)
        large = [asyncio.create_task(batcher.predict_one(f"q{i}")) for i in range(4)]  # 4 >= 8 // 4: load
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(blocker, *large)
        early = asyncio.create_task(batcher.predict_one("early"))
        await asyncio.sleep(0.05)
        late = [asyncio.create_task(batcher.predict_one(f"late{i}")) for i in range(3)]
        await asyncio.gather(early, *late)  # one batch: the first waited for the rest to come
        await batcher.predict_one("after the load")  # after a batch of 4 it still waits to fill
        started = time.perf_counter()
        await batcher.predict_one("lone")  # the last batch was 1 text: no wait
        return time.perf_counter() - started

    lone_seconds, sizes = asyncio.run(_with_batcher(predictor, body, max_size=8, max_wait_ms=0, fill_wait_ms=300))
    assert sizes == [1, 4, 4, 1, 1]
    assert lone_seconds < 0.15


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


def test_a_large_batch_is_scored_in_pieces_between_single_requests():
    predictor = FakePredictor()
    predictor_calls = predictor.calls

    async def body(batcher):
        bulk = asyncio.create_task(batcher.predict_many([f"bulk {i}" for i in range(256)]))
        await asyncio.sleep(0)  # the bulk texts are queued first
        single = await batcher.predict_one("single")
        bulk_done_before_single = bulk.done()
        return await bulk, single, bulk_done_before_single

    (bulk, single, bulk_first), sizes = asyncio.run(_with_batcher(predictor, body, max_size=32, max_wait_ms=0))
    assert not bulk_first  # the single request did not wait for all 256
    assert [p.confidence for p in bulk[0]] == pytest.approx([len(f"bulk {i}") / 100 for i in range(256)])
    assert max(sizes) <= 32 and sum(sizes) == 257
    assert any("single" in call and any(t.startswith("bulk") for t in call) for call in predictor_calls)


def test_waiting_batch_texts_take_an_eighth_of_each_micro_batch_while_singles_wait():
    gate = threading.Event()
    predictor = FakePredictor(gate=gate)

    async def body(batcher):
        blocker = asyncio.create_task(batcher.predict_one("first"))
        await asyncio.sleep(0.05)
        bulk = asyncio.create_task(batcher.predict_many([f"b{i}" for i in range(40)]))
        singles = [asyncio.create_task(batcher.predict_one(f"s{i}")) for i in range(40)]
        await asyncio.sleep(0.05)
        gate.set()
        await blocker
        await asyncio.gather(bulk, *singles)

    asyncio.run(_with_batcher(predictor, body, max_size=8, max_wait_ms=0))
    second = predictor.calls[1]  # the first batch after the blocker: 7 singles and 1 bulk text
    assert sum(t.startswith("s") for t in second) == 7 and sum(t.startswith("b") for t in second) == 1


def test_a_long_queue_is_refused_with_a_retry_hint():
    gate = threading.Event()
    predictor = FakePredictor(gate=gate)

    async def body(batcher):
        batcher.seconds_per_text = 0.01  # as if measured: 10 ms per text
        blocker = asyncio.create_task(batcher.predict_one("first"))
        await asyncio.sleep(0.05)
        queued = asyncio.create_task(batcher.predict_many(["x"] * 95))  # 0.95 s of work: admitted
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded) as refused:
            await batcher.predict_many(["y"] * 10)  # 1.05 s expected: over the 1 s limit
        gate.set()
        await asyncio.gather(blocker, queued)
        return refused.value

    refused, _ = asyncio.run(_with_batcher(predictor, body, max_wait_ms=0, max_queue_wait_ms=1000))
    assert refused.retry_after == 2 and "expected wait" in str(refused)


@dataclass
class TimedPredictor:
    """Costs what inference costs: a fixed part per call and a part per text (measured shape:
    a few ms per call, about 1.5 ms per text on 2 cores)."""

    version: str = "1"
    per_call: float = 0.002
    per_text: float = 0.0015

    def predict(self, texts: list[str]) -> list[Prediction]:
        time.sleep(self.per_call + self.per_text * len(texts))
        return [Prediction("positive", 0.9, {"negative": 0.1, "positive": 0.9}, 5, 0) for _ in texts]


async def _mix(batcher, seconds: float, with_batches: bool) -> dict:
    """4 closed-loop clients of single tweets and, optionally, one client sending 256-text batch
    requests that retries at once on 503 (the mix that starved one side or the other)."""
    found = {"singles": 0, "single_refusals": 0, "batches": 0, "batch_refusals": 0, "batch_gaps": []}
    deadline = time.perf_counter() + seconds

    async def single_client():
        while time.perf_counter() < deadline:
            try:
                await batcher.predict_one("a tweet")
                found["singles"] += 1
            except Overloaded:
                found["single_refusals"] += 1
                await asyncio.sleep(0.001)

    async def batch_client():
        last = time.perf_counter()
        while time.perf_counter() < deadline:
            try:
                await batcher.predict_many(["a tweet in a batch"] * 256)
                found["batches"] += 1
                found["batch_gaps"].append(time.perf_counter() - last)
                last = time.perf_counter()
            except Overloaded:
                found["batch_refusals"] += 1
                await asyncio.sleep(0)

    clients = [single_client() for _ in range(4)] + ([batch_client()] if with_batches else [])
    await asyncio.gather(*clients)
    return found


@pytest.mark.parametrize("run", range(3))  # the outcome flipped from run to run: repeat it
def test_batch_and_single_requests_share_fairly_every_run(run):
    predictor = TimedPredictor()

    async def body(batcher):
        alone = await _mix(batcher, 1.5, with_batches=False)
        mixed = await _mix(batcher, 3.0, with_batches=True)
        return alone, mixed

    (alone, mixed), _ = asyncio.run(_with_batcher(predictor, body, max_size=32, max_wait_ms=0))
    singles_share = (mixed["singles"] / 3.0) / (alone["singles"] / 1.5)
    assert singles_share >= 0.3, (alone, mixed)  # singles keep at least 30% of their rate alone
    assert mixed["batches"] >= 1 and max(mixed["batch_gaps"]) <= 2.0, mixed  # an answer at least every 2 s
    assert mixed["batch_refusals"] == 0 and mixed["single_refusals"] == 0  # below capacity: no 503
