"""Batch scoring benchmark: `sentiops batch run` on 10k, 100k and 1M rows (resampled from the
sample), with rows/s and peak RSS for each, next to a transformers-pipeline reference measured
in the same run (on the first --reference-rows rows: at its speed 1M rows would take hours).

    python benchmarks/batch_bench.py --registry var/bench/registry [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil

from sentiops.registry import Registry

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import sample_rows  # noqa: E402


def make_input(path: Path, rows: int, tweets: list[str]) -> None:
    if path.is_file():
        return
    rng = np.random.default_rng(rows)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for start in range(0, rows, 100_000):
            picks = rng.integers(0, len(tweets), min(100_000, rows - start))
            writer.writerows((f"r{start + i}", tweets[k]) for i, k in enumerate(picks))
    tmp.rename(path)


def run_measured(command: list[str], env: dict) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB of the child, stdout) using wait4's rusage."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command} failed: {out}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registry", type=Path, required=True)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--reference-rows", type=int, default=3000)
    parser.add_argument("--work", type=Path, default=Path("var/bench/batch"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    registry = Registry(args.registry)
    version = registry.resolve("production")
    tweets = [row[1] for row in sample_rows()]
    args.work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SENTIOPS_REGISTRY_DIR": str(args.registry), "SENTIOPS_HOME": str(args.work)}

    rows_out = []
    for size in (int(s) for s in args.sizes.split(",")):
        source = args.work / f"rows-{size}.csv"
        make_input(source, size, tweets)
        command = [
            sys.executable,
            "-m",
            "sentiops.cli",
            "batch",
            "run",
            "--input",
            str(source),
            "--output",
            str(args.work / f"results-{size}"),
            "--date",
            "2026-01-01",
            "--force",
            "--no-drift",
        ]
        wall, rss, _ = run_measured(command, env)
        manifest = json.loads(
            (args.work / f"results-{size}" / "runs" / "date=2026-01-01" / "part-00000-of-00001.json").read_text()
        )
        row = {
            "rows": size,
            "wall_seconds": round(wall, 1),
            "rows_per_second": round(size / wall, 1),
            "scoring_rows_per_second": manifest["rows_per_second"],
            "peak_rss_mb": round(rss, 1),
        }
        rows_out.append(row)
        print(
            f"sentiops  rows={size:>8} {row['rows_per_second']:>7} rows/s (wall)  peak RSS {row['peak_rss_mb']} MB",
            flush=True,
        )

    reference_source = args.work / f"rows-{max(int(s) for s in args.sizes.split(','))}.csv"
    wall, rss, out = run_measured(
        [
            sys.executable,
            str(HERE / "reference_batch.py"),
            str(registry.path(version) / "hf"),
            str(reference_source),
            str(args.reference_rows),
        ],
        env,
    )
    reference = {
        **json.loads(out.strip().splitlines()[-1]),
        "peak_rss_mb": round(rss, 1),
        "wall_seconds": round(wall, 1),
    }
    print(
        f"reference rows={reference['rows']:>8} {reference['rows_per_second']:>7} rows/s  "
        f"peak RSS {reference['peak_rss_mb']} MB"
    )

    by_size = {r["rows"]: r for r in rows_out}
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hardware": f"{psutil.cpu_count()} CPU cores ({platform.machine()}), "
        f"{round(psutil.virtual_memory().total / 2**30)} GiB",
        "model_version": version,
        "sentiops": rows_out,
        "reference": reference,
        "ratio_rows_per_second": {
            str(r["rows"]): round(r["rows_per_second"] / reference["rows_per_second"], 2) for r in rows_out
        },
    }
    if 100_000 in by_size and 1_000_000 in by_size:
        result["rss_1m_over_100k"] = round(by_size[1_000_000]["peak_rss_mb"] / by_size[100_000]["peak_rss_mb"], 3)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "batch.json").write_text(json.dumps(result, indent=2))
    lines = ["| scorer | rows | rows/s (wall) | peak RSS MB |", "|---|---|---|---|"]
    lines += [f"| sentiops int8 | {r['rows']} | {r['rows_per_second']} | {r['peak_rss_mb']} |" for r in rows_out]
    lines.append(
        f"| reference pipeline (torch) | {reference['rows']} | {reference['rows_per_second']} | "
        f"{reference['peak_rss_mb']} |"
    )
    lines.append("")
    lines.append("ratios: " + ", ".join(f"{k} rows: {v}x" for k, v in result["ratio_rows_per_second"].items()))
    if "rss_1m_over_100k" in result:
        lines.append(f"peak RSS 1M / 100k: {result['rss_1m_over_100k']}")
    (args.out / "batch.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
