"""The learning half's costs: the API with the prediction log on against off (in one run), the
log's bytes per million predictions, and `feedback import` rows/s on 100,000 labels.

    python benchmarks/feedback_bench.py --home var/bench [--seconds 15] [--labels FILE]

Each serving mode runs twice, interleaved (off, on, off, on), so drift of the machine shows;
the medians are compared. Results: benchmarks/results/feedback.{json,md}.
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

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model, sample_rows, tweets_file  # noqa: E402
from serve_bench import load, paced, rss_mb, wait_ready  # noqa: E402

SHARED_100K = HERE.parent.parent / "shared" / "data" / "sentiment140_sample_100k.csv"


def serve_once(home: Path, results: Path, log_on: bool, port: int, tweets_path: Path, seconds: float) -> dict:
    env = {
        **os.environ,
        "SENTIOPS_HOME": str(home),
        "SENTIOPS_RESULTS_DIR": str(results),
        "SENTIOPS_PREDICTION_LOG": "true" if log_on else "false",
    }
    command = [sys.executable, "-m", "sentiops.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url)
        closed = load(url, str(tweets_path), 32, seconds)
        steady = paced(url, str(tweets_path), 100, seconds)
        row = {"log": log_on, "rps_32": closed["rps"], "p99_32_ms": closed["p99_ms"], "errors": closed["errors"]}
        row.update(paced_p99_ms=steady["p99_ms"], paced_errors=steady["errors"], rss_mb=rss_mb(server.pid))
        return row
    finally:
        server.terminate()  # SIGTERM: the log flushes what it holds
        server.wait(timeout=60)


def log_size(results: Path) -> tuple[int, int]:
    import pyarrow.parquet as pq

    files = list((results / "predictions").rglob("*.parquet"))
    rows = sum(pq.read_metadata(f).num_rows for f in files)
    return rows, sum(f.stat().st_size for f in files)


def import_rate(home: Path, labels: Path, n: int) -> dict:
    """`feedback import` of n labels into a copy of the prepared store, whole command timed."""
    work = Path(tempfile.mkdtemp())
    shutil.copytree(home / "data", work / "data")
    source = work / "labels.csv"
    rows = [r for r in _csv_rows(labels) if r[0] in ("0", "4")][:n]
    import csv

    with open(source, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["target", "text"])
        writer.writerows(rows)
    env = {**os.environ, "SENTIOPS_HOME": str(home), "SENTIOPS_DATA_DIR": str(work / "data")}
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "sentiops.cli", "feedback", "import", str(source), "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    summary = json.loads(out.stdout[out.stdout.index("{") :])
    shutil.rmtree(work, ignore_errors=True)
    return {"rows": len(rows), "seconds": round(seconds, 2), "rows_per_second": round(len(rows) / seconds), **summary}


def _csv_rows(path: Path) -> list[list[str]]:
    import csv

    if path == SHARED_100K or not path.name.endswith(".gz"):
        with open(path, encoding="latin-1", newline="") as handle:
            return [[r[0], r[-1]] for r in csv.reader(handle) if r]
    return sample_rows()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True, help="a SENTIOPS_HOME with prepared data and a model")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--labels", type=Path, default=SHARED_100K if SHARED_100K.is_file() else None)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}", flush=True)

    tweets_path = tweets_file()
    runs = []
    log_results = Path(tempfile.mkdtemp()) / "results"
    for i, log_on in enumerate((False, True, False, True)):
        results = log_results if log_on else Path(tempfile.mkdtemp()) / "results"
        row = serve_once(args.home, results, log_on, 8731 + i, tweets_path, args.seconds)
        runs.append(row)
        print(json.dumps(row), flush=True)
    rows, size = log_size(log_results)

    def median(log_on: bool, key: str) -> float:
        return statistics.median(r[key] for r in runs if r["log"] == log_on)

    summary = {
        "rps_32_off": median(False, "rps_32"),
        "rps_32_on": median(True, "rps_32"),
        "paced_p99_off_ms": median(False, "paced_p99_ms"),
        "paced_p99_on_ms": median(True, "paced_p99_ms"),
    }
    summary["rps_ratio_on_over_off"] = round(summary["rps_32_on"] / summary["rps_32_off"], 3)
    summary["paced_p99_ratio_on_over_off"] = round(summary["paced_p99_on_ms"] / summary["paced_p99_off_ms"], 3)
    summary["log_rows"] = rows
    summary["log_bytes_per_million_predictions"] = round(size / max(rows, 1) * 1_000_000)
    labels = args.labels or Path("sample")
    summary["feedback_import"] = import_rate(args.home, labels, 100_000) if args.labels else None
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hardware": f"{cpu_model()}, {round(psutil.virtual_memory().total / 2**30)} GiB",
        "seconds_per_run": args.seconds,
        "runs": runs,
        "summary": summary,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "feedback.json").write_text(json.dumps(result, indent=2))
    lines = [
        "| prediction log | 32 clients req/s | 32 clients p99 ms | paced 100 req/s p99 ms | errors | RSS MB |",
        "|---|---|---|---|---|---|",
        *(
            f"| {'on' if r['log'] else 'off'} | {r['rps_32']} | {r['p99_32_ms']} | {r['paced_p99_ms']} | "
            f"{r['errors'] + r['paced_errors']} | {r['rss_mb']} |"
            for r in runs
        ),
        "",
        f"medians, on / off: req/s x{summary['rps_ratio_on_over_off']}, "
        f"paced p99 x{summary['paced_p99_ratio_on_over_off']}",
        f"log: {rows} rows, {summary['log_bytes_per_million_predictions'] / 1e6:.0f} MB per million "
        "predictions (text kept)",
        f"feedback import: {summary['feedback_import']}",
        f"CPU: {result['hardware']}",
    ]
    (args.out / "feedback.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
