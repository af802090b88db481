"""Open-loop load: requests sent at a fixed rate whatever the answers do (what a real service
sees), so the p99 shows queueing that a closed loop hides. Its own process, its heap frozen
out of the garbage collector: the client's pauses must not count as the server's latency.

    python benchmarks/paced_load.py URL TWEETS_FILE PER_SECOND SECONDS  -> one JSON line on stdout
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from pathlib import Path

import httpx


def paced(url: str, tweets: list[str], per_second: float, seconds: float) -> dict:
    async def run() -> dict:
        latencies: list[float] = []
        errors = 0
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:

            async def one(text: str) -> None:
                nonlocal errors
                started = time.perf_counter()
                try:
                    ok = (await client.post("/predict", json={"text": text})).status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok

            tasks = []
            begin = time.perf_counter()
            for i in range(int(per_second * seconds)):
                await asyncio.sleep(max(0.0, begin + i / per_second - time.perf_counter()))
                tasks.append(asyncio.create_task(one(tweets[i % len(tweets)])))
            await asyncio.gather(*tasks)
        ordered = sorted(latencies)
        pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)  # noqa: E731
        return {
            "offered_rps": per_second,
            "requests": len(ordered),
            "errors": errors,
            "p50_ms": pick(0.5),
            "p99_ms": pick(0.99),
        }

    return asyncio.run(run())


def main() -> None:
    url, tweets_file, per_second, seconds = sys.argv[1:5]
    tweets = json.loads(Path(tweets_file).read_text())
    gc.collect()
    gc.freeze()
    print(json.dumps(paced(url, tweets, float(per_second), float(seconds))))


if __name__ == "__main__":
    main()
