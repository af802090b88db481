"""Serving benchmark: sentiops (SENTIOPS_BACKEND, default auto; micro-batching) against a reference server.

Both servers get the same closed-loop load of real tweets from the sample at 1, 8 and 32
concurrent clients, from a separate load-generator process. Prints a table and writes JSON
and Markdown to benchmarks/results/.

    python benchmarks/serve_bench.py --registry var/bench/registry [--seconds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from sentiops.registry import Registry

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model, sample_rows  # noqa: E402

LEVELS = (1, 8, 32)


def wait_ready(url: str, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} never became ready")


def rss_mb(pid: int) -> float:
    process = psutil.Process(pid)
    return round(sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20, 1)


def paced(url: str, tweets: list[str], rate: float = 100, seconds: float = 15) -> dict:
    """Open loop: requests are sent at a fixed rate whatever the answers do (what a real
    service sees), so the p99 shows queueing that a closed loop hides."""
    import asyncio

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
            for i in range(int(rate * seconds)):
                await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(one(tweets[i % len(tweets)])))
            await asyncio.gather(*tasks)
        ordered = sorted(latencies)
        pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)  # noqa: E731
        return {
            "offered_rps": rate,
            "requests": len(ordered),
            "errors": errors,
            "p50_ms": pick(0.5),
            "p99_ms": pick(0.99),
        }

    return asyncio.run(run())


def measure(name: str, command: list[str], env: dict, port: int, tweets_file: str, seconds: float) -> dict:
    started = time.perf_counter()
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url)
        ready_seconds = round(time.perf_counter() - started, 1)
        print(f"{name:>9} ready in {ready_seconds} s", flush=True)
        rows = []
        for clients in LEVELS:
            out = subprocess.run(
                [sys.executable, str(HERE / "loadgen.py"), f"{url}/predict", tweets_file, str(clients), str(seconds)],
                check=True,
                capture_output=True,
                text=True,
            )
            row = json.loads(out.stdout)
            row["rss_mb"] = rss_mb(server.pid)
            rows.append(row)
            print(
                f"{name:>9} clients={clients:>2} rps={row['rps']:>7} p50={row['p50_ms']:>7}ms "
                f"p95={row['p95_ms']:>7}ms p99={row['p99_ms']:>7}ms errors={row['errors']} rss={row['rss_mb']}MB",
                flush=True,
            )
        model = httpx.get(f"{url}/model").json() if name == "sentiops" else {}
        result = {"name": name, "levels": rows, "backend": model.get("backend"), "ready_seconds": ready_seconds}
        if name == "sentiops":
            result["paced"] = paced(url, json.loads(Path(tweets_file).read_text()), 100, seconds)
            print(f"{name:>9} paced 100 req/s: {result['paced']}", flush=True)
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registry", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--sentiops-only", action="store_true", help="for tuning: skip the reference")
    args = parser.parse_args()

    registry = Registry(args.registry)
    version = registry.resolve("production")
    tweets = [row[1] for row in sample_rows()][:5000]
    tweets_path = Path(tempfile.mkdtemp()) / "tweets.json"
    tweets_path.write_text(json.dumps(tweets))

    env = {**os.environ, "SENTIOPS_REGISTRY_DIR": str(args.registry), "SENTIOPS_HOME": str(args.registry.parent)}
    ours = measure(
        "sentiops",
        [sys.executable, "-m", "sentiops.cli", "serve", "--host", "127.0.0.1", "--port", "8711"],
        env,
        8711,
        str(tweets_path),
        args.seconds,
    )
    if args.sentiops_only:
        return
    reference = measure(
        "reference",
        [sys.executable, str(HERE / "reference_server.py"), str(registry.path(version) / "hf"), "8712"],
        env,
        8712,
        str(tweets_path),
        args.seconds,
    )
    tweets_path.unlink()

    ratios = []
    for a, b in zip(ours["levels"], reference["levels"], strict=True):
        ratios.append(
            {
                "clients": a["clients"],
                "rps_ratio": round(a["rps"] / max(b["rps"], 1e-9), 2),
                "p99_ratio": round(a["p99_ms"] / max(b["p99_ms"], 1e-9), 3),
            }
        )

    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hardware": f"{cpu_model()}, {round(psutil.virtual_memory().total / 2**30)} GiB",
        "model_version": version,
        "seconds_per_level": args.seconds,
        "servers": [ours, reference],
        "ratios": ratios,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve.json").write_text(json.dumps(result, indent=2))
    lines = [
        "| server | clients | req/s | p50 ms | p95 ms | p99 ms | errors | RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for server in (ours, reference):
        for row in server["levels"]:
            lines.append(
                f"| {server['name']} | {row['clients']} | {row['rps']} | {row['p50_ms']} | {row['p95_ms']} | "
                f"{row['p99_ms']} | {row['errors']} | {row['rss_mb']} |"
            )
    lines.append("")
    lines.append(
        f"sentiops engine: {ours['backend']}; ready in {ours['ready_seconds']} s; paced 100 req/s: {ours['paced']}"
    )
    lines.append(f"CPU: {result['hardware']}")
    lines.append(
        "ratios (sentiops / reference): "
        + ", ".join(f"{r['clients']} clients: {r['rps_ratio']}x req/s, p99 x{r['p99_ratio']}" for r in ratios)
    )
    (args.out / "serve.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
