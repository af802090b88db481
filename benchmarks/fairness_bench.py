"""Single and batch requests at once, against the real API: 4 closed-loop clients of single
tweets (wrk) beside one client sending 256-text `/predict/batch` requests that retries at once on
503 (a Python process of its own). Singles are measured alone first, then with the batch client,
and the whole mix is repeated, because the outcome used to flip from run to run.

Targets: singles keep at least 30% of their rate alone; the batch client gets an answer at least
every 2 s; no 503 while the service is below capacity.

    python benchmarks/fairness_bench.py --registry var/bench/registry [--seconds 12] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model, tweets_file  # noqa: E402
from serve_bench import load, wait_ready  # noqa: E402


def batch_client(url: str, texts: list[str], seconds: float, out: multiprocessing.Queue) -> None:
    found = {"served": 0, "refused": 0, "gaps": []}
    deadline = time.perf_counter() + seconds
    last = time.perf_counter()
    with httpx.Client(base_url=url, timeout=30) as client:
        while time.perf_counter() < deadline:
            status = client.post("/predict/batch", json={"texts": texts}).status_code
            if status == 200:
                found["served"] += 1
                found["gaps"].append(round(time.perf_counter() - last, 3))
                last = time.perf_counter()
            else:
                found["refused"] += 1
    found["max_gap_s"] = max(found["gaps"] + [time.perf_counter() - last])
    out.put(found)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registry", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}", flush=True)
    tweets_path = tweets_file()
    tweets = json.loads(tweets_path.read_text())
    env = {
        **os.environ,
        "SENTIOPS_REGISTRY_DIR": str(args.registry),
        "SENTIOPS_HOME": str(args.registry.parent),
        "SENTIOPS_RESULTS_DIR": tempfile.mkdtemp(),
    }
    port = 8751
    server = subprocess.Popen(
        [sys.executable, "-m", "sentiops.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    runs = []
    try:
        wait_ready(url)
        for run in range(args.runs):
            alone = load(url, str(tweets_path), 4, args.seconds)
            queue: multiprocessing.Queue = multiprocessing.Queue()
            batch = multiprocessing.Process(target=batch_client, args=(url, tweets[:256], args.seconds + 2, queue))
            batch.start()
            mixed = load(url, str(tweets_path), 4, args.seconds)
            found = queue.get(timeout=120)
            batch.join()
            row = {
                "run": run + 1,
                "singles_alone_rps": alone["rps"],
                "singles_mixed_rps": mixed["rps"],
                "singles_share": round(mixed["rps"] / alone["rps"], 3),
                "singles_p99_ms": mixed["p99_ms"],
                "singles_errors": mixed["errors"],
                "batches_served": found["served"],
                "batches_refused": found["refused"],
                "batch_max_gap_s": round(found["max_gap_s"], 2),
            }
            runs.append(row)
            print(json.dumps(row), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpu": cpu_model(), "runs": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fairness.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
