"""Closed-loop load generator: N clients, each sends its next request when the last returns.

Runs as its own process so that it does not share an interpreter with the server.

    python benchmarks/loadgen.py URL TWEETS_FILE CLIENTS SECONDS  -> one JSON line on stdout
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx
import numpy as np


async def client(
    http: httpx.AsyncClient,
    url: str,
    tweets: list[str],
    start: int,
    stop_at: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    i = start
    while time.perf_counter() < stop_at:
        began = time.perf_counter()
        try:
            response = await http.post(url, json={"text": tweets[i % len(tweets)]})
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        latencies.append(time.perf_counter() - began)
        if not ok:
            errors.append(1)
        i += 1


async def run(url: str, tweets: list[str], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[int] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        # warm-up: one request per client, not counted
        await asyncio.gather(*(http.post(url, json={"text": tweets[i]}) for i in range(clients)))
        began = time.perf_counter()
        stop_at = began + seconds
        await asyncio.gather(*(client(http, url, tweets, k * 997, stop_at, latencies, errors) for k in range(clients)))
        elapsed = time.perf_counter() - began
    lat = np.array(latencies) * 1000
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": len(latencies),
        "errors": len(errors),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p95_ms": round(float(np.percentile(lat, 95)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
    }


if __name__ == "__main__":
    url, tweets_file, clients, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    with open(tweets_file) as handle:
        tweets = json.load(handle)
    print(json.dumps(asyncio.run(run(url, tweets, clients, seconds))))
