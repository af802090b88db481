"""Shadow benchmark: production alone against production plus a 100% shadow of staging, in one run.

Copies the benchmark registry, publishes a byte-for-byte copy of its production version as the
staging version (the same model: the shadow costs what scoring it again costs), and serves it
without a staging alias and with one (SENTIOPS_SHADOW_SHARE=1), alternately, `--rounds` times
each (a p99 of one short run on 2 shared cores moves by 2x between runs; the medians are
compared). Each run: 1-client p50 and 32-client req/s (wrk, closed loop), paced 100 req/s
p50/p99 (open loop), RSS after the load, and the shadow's scored and shed counts from /metrics.
Writes benchmarks/results/shadow.{json,md}.

    python benchmarks/shadow_bench.py --registry var/bench/registry [--seconds 15] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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
from common import copy_as_new_version, cpu_model, sample_rows  # noqa: E402
from serve_bench import load, paced, rss_mb, wait_ready  # noqa: E402

PORT = 8721


def metric(url: str, name: str) -> float:
    total = 0.0
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.split()[-1])
    return total


def measure(name: str, env: dict, tweets_file: str, seconds: float) -> dict:
    command = [sys.executable, "-m", "sentiops.cli", "serve", "--host", "127.0.0.1", "--port", str(PORT)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{PORT}"
    try:
        wait_ready(url)
        if env.get("SENTIOPS_SHADOW_SHARE") == "1":
            deadline = time.time() + 120  # staging loads after production, on the poller
            while httpx.get(f"{url}/model").json().get("staging") is None and time.time() < deadline:
                time.sleep(0.5)
        rss_idle = rss_mb(server.pid)
        engine = httpx.get(f"{url}/model").json()["backend"]
        one = load(url, tweets_file, 1, seconds)
        steady = paced(url, tweets_file, 100, seconds)
        before = metric(url, "sentiops_shadow_shed_total"), metric(url, "sentiops_shadow_pairs_total")
        many = load(url, tweets_file, 32, seconds)
        after = metric(url, "sentiops_shadow_shed_total"), metric(url, "sentiops_shadow_pairs_total")
        time.sleep(2)  # let the shadow drain what waits
        row = {
            "name": name,
            "engine": engine,
            "one_client_p50_ms": one["p50_ms"],
            "one_client_rps": one["rps"],
            "paced_100": steady,
            "clients_32_rps": many["rps"],
            "clients_32_p99_ms": many["p99_ms"],
            "errors": one["errors"] + steady["errors"] + many["errors"],
            "rss_idle_mb": rss_idle,
            "rss_mb": rss_mb(server.pid),
            "shadow_scored_total": metric(url, "sentiops_shadow_pairs_total"),
            "shadow_shed_total": metric(url, "sentiops_shadow_shed_total"),
            "shadow_at_32_clients": {"scored": after[1] - before[1], "shed": after[0] - before[0]},
            "answered": metric(url, 'sentiops_model_predictions_total{label="positive",role="production"')
            + metric(url, 'sentiops_model_predictions_total{label="negative",role="production"'),
        }
        print(json.dumps(row), flush=True)
        return row
    finally:
        server.terminate()
        server.wait(timeout=30)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registry", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="shadow-bench-"))
    shutil.copytree(args.registry, home / "registry")
    registry = Registry(home / "registry")
    production = registry.resolve("production")
    staging = copy_as_new_version(registry, production)
    tweets = [row[1] for row in sample_rows()][:5000]
    tweets_file = home / "tweets.json"
    tweets_file.write_text(json.dumps(tweets))
    env = {
        **os.environ,
        "SENTIOPS_HOME": str(home),
        "SENTIOPS_REGISTRY_DIR": str(home / "registry"),
        "SENTIOPS_PREDICTION_LOG": "true",
    }
    print(f"CPU: {cpu_model()}; production {production}, staging {staging} (a copy)", flush=True)
    runs: dict[str, list[dict]] = {"production alone": [], "+ 100% shadow": []}
    for _ in range(args.rounds):
        registry.set_alias("staging", production, reason="shadow benchmark: off")  # staging = production: none
        runs["production alone"].append(
            measure("production alone", {**env, "SENTIOPS_SHADOW_SHARE": "0"}, str(tweets_file), args.seconds)
        )
        registry.set_alias("staging", staging, reason="shadow benchmark: on")
        runs["+ 100% shadow"].append(
            measure("+ 100% shadow", {**env, "SENTIOPS_SHADOW_SHARE": "1"}, str(tweets_file), args.seconds)
        )
    shutil.rmtree(home, ignore_errors=True)

    summary = {
        name: {
            "one_client_p50_ms": median([r["one_client_p50_ms"] for r in rows]),
            "paced_p50_ms": median([r["paced_100"]["p50_ms"] for r in rows]),
            "paced_p99_ms": median([r["paced_100"]["p99_ms"] for r in rows]),
            "clients_32_rps": median([r["clients_32_rps"] for r in rows]),
            "errors": sum(r["errors"] for r in rows),
            "rss_idle_mb": median([r["rss_idle_mb"] for r in rows]),
            "rss_mb": median([r["rss_mb"] for r in rows]),
            "shadow_scored": sum(r["shadow_scored_total"] for r in rows),
            "shadow_shed": sum(r["shadow_shed_total"] for r in rows),
            "scored_at_32": sum(r["shadow_at_32_clients"]["scored"] for r in rows),
            "shed_at_32": sum(r["shadow_at_32_clients"]["shed"] for r in rows),
        }
        for name, rows in runs.items()
    }
    alone, shadow = summary["production alone"], summary["+ 100% shadow"]
    ratio = shadow["paced_p99_ms"] / max(alone["paced_p99_ms"], 1e-9)
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hardware": f"{cpu_model()}, {round(psutil.virtual_memory().total / 2**30)} GiB",
        "seconds_per_level": args.seconds,
        "rounds": args.rounds,
        "runs": runs,
        "medians": summary,
        "paced_p99_ratio": round(ratio, 3),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "shadow.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"medians of {args.rounds} alternating runs each:",
        "",
        "| run | 1-client p50 ms | paced 100 req/s p50 / p99 ms | 32-client req/s | errors | RSS idle / loaded MB "
        "| shadow scored / shed (at 32 clients) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in summary.items():
        lines.append(
            f"| {name} | {r['one_client_p50_ms']} | {r['paced_p50_ms']} / {r['paced_p99_ms']} | "
            f"{r['clients_32_rps']} | {r['errors']} | {r['rss_idle_mb']} / {r['rss_mb']} | "
            f"{r['shadow_scored']:.0f} / {r['shadow_shed']:.0f} ({r['scored_at_32']:.0f} / {r['shed_at_32']:.0f}) |"
        )
    p99s = {name: [r["paced_100"]["p99_ms"] for r in rows] for name, rows in runs.items()}
    lines += [
        "",
        f"paced p99 per run: {p99s}",
        f"paced p99 with shadow / alone (medians): {ratio:.3f}",
        f"CPU: {result['hardware']}",
    ]
    (args.out / "shadow.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
