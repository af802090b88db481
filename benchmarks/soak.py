"""Soak: 60 s of 32 closed-loop clients sending single tweets while another client sends
256-tweet batches back to back. Reports single-request latency, every status the server
answered (from its own metrics), bulk progress and the server's memory growth.

Pass: no errors other than deliberate 503s, server RSS growth under 10%.

    python benchmarks/soak.py --registry var/bench/registry [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model, sample_rows  # noqa: E402
from loadgen import run as wrk_run  # noqa: E402
from serve_bench import rss_mb, wait_ready  # noqa: E402


def bulk_client(url: str, tweets: list[str], stop: threading.Event, out: list[tuple[int, float]]) -> None:
    with httpx.Client(timeout=30) as client:
        i = 0
        while not stop.is_set():
            texts = [tweets[(i + k) % len(tweets)] for k in range(256)]
            i += 256
            started = time.perf_counter()
            try:
                status = client.post(f"{url}/predict/batch", json={"texts": texts}).status_code
            except httpx.HTTPError:
                status = 0
            out.append((status, time.perf_counter() - started))
            if status == 503:
                time.sleep(0.5)  # honour the hint, as a well-behaved client would


def statuses(metrics: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for route, status, value in re.findall(
        r'sentiops_http_requests_total\{method="POST",route="([^"]+)",status="(\d+)"\} ([0-9.e+]+)', metrics
    ):
        found[f"{route} {status}"] = int(float(value))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registry", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    tweets = [row[1] for row in sample_rows()][:5000]
    port = 8713
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SENTIOPS_REGISTRY_DIR": str(args.registry), "SENTIOPS_HOME": str(args.registry.parent)}
    server = subprocess.Popen(
        [sys.executable, "-m", "sentiops.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(url)
        wrk_run(f"{url}/predict", tweets[:500], 32, 3)  # warm-up: caches, allocator arenas
        rss_start = rss_mb(server.pid)
        stop, bulk = threading.Event(), []
        thread = threading.Thread(target=bulk_client, args=(url, tweets, stop, bulk))
        thread.start()
        singles = wrk_run(f"{url}/predict", tweets, 32, args.seconds)
        stop.set()
        thread.join()
        rss_end = rss_mb(server.pid)
        counted = statuses(httpx.get(f"{url}/metrics").text)
    finally:
        server.terminate()
        server.wait(timeout=30)

    bulk_ok = sorted(seconds for status, seconds in bulk if status == 200)
    errors = {k: v for k, v in counted.items() if not k.endswith((" 200", " 503"))}
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu": cpu_model(),
        "seconds": args.seconds,
        "singles": singles,
        "bulk": {
            "requests": len(bulk),
            "ok": len(bulk_ok),
            "refused_503": sum(1 for status, _ in bulk if status == 503),
            "p50_s": round(bulk_ok[len(bulk_ok) // 2], 3) if bulk_ok else None,
        },
        "server_statuses": counted,
        "errors_other_than_503": errors,
        "rss_mb": {"start": rss_start, "end": rss_end, "growth": round(rss_end / rss_start - 1, 4)},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    ok = not errors and result["rss_mb"]["growth"] < 0.10
    print(f"soak {'PASSED' if ok else 'FAILED'}: single p99 {singles['p99_ms']} ms at {singles['rps']} req/s")


if __name__ == "__main__":
    main()
