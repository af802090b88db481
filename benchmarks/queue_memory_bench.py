"""Peak memory and time of `sentiops label queue` over a scored day of 100,000 and of 1,000,000
rows, in one run: the window is streamed, so memory follows the queue's size, not the day. The
days are synthetic scores of real tweets (the bundled sample, each text made unique).

    python benchmarks/queue_memory_bench.py --home var/bench
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model, peak_rss, sample_rows  # noqa: E402

from sentiops.scoring.job import score_schema  # noqa: E402

SIZES = (100_000, 1_000_000)
DATE = "2026-11-01"


def write_day(folder: Path, rows: int, texts: list[str]) -> None:
    rng = np.random.default_rng(rows)
    folder.mkdir(parents=True)
    schema = score_schema(["negative", "positive"])  # the batch job's own scores format
    with pq.ParquetWriter(folder / "part-00000-of-00001.parquet", schema) as writer:
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            positive = rng.beta(2, 2, n).astype(np.float32)
            table = {
                "row_id": [f"r{start + i}" for i in range(n)],
                "prediction_id": [f"batch-{DATE.replace('-', '')}-{start + i:020d}" for i in range(n)],
                "source_file": ["day.csv"] * n,
                "text": [f"{texts[(start + i) % len(texts)]} #{start + i}" for i in range(n)],
                "label": np.where(positive >= 0.5, "positive", "negative").tolist(),
                "confidence": np.maximum(positive, 1 - positive),
                "score_negative": 1 - positive,
                "score_positive": positive,
                "tokens": rng.integers(6, 48, n).astype(np.int16),
                "unknown_tokens": np.zeros(n, np.int16),
                "model_version": ["1"] * n,
                "scored_at": [dt.datetime(2026, 11, 1, tzinfo=dt.UTC)] * n,
            }
            writer.write_table(pa.table(table, schema=schema))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True, help="a home with a prepared store and a registry")
    parser.add_argument("--size", type=int, default=200)
    args = parser.parse_args()
    texts = [row[1] for row in sample_rows()]
    result = {"cpu": cpu_model(), "queue_size": args.size, "days": []}
    for rows in SIZES:
        home = Path(tempfile.mkdtemp(prefix="queue-bench-"))
        shutil.copytree(args.home / "data", home / "data")
        shutil.copytree(args.home / "registry", home / "registry")
        write_day(home / "results" / "scores" / f"date={DATE}", rows, texts)
        command = [sys.executable, "-m", "sentiops.cli", "label", "queue", "--since", DATE, "--until", DATE,
                   "--size", str(args.size), "--seed", "1"]  # fmt: skip
        env = {**os.environ, "SENTIOPS_HOME": str(home)}
        seconds, peak_mb = peak_rss(command, env)
        result["days"].append({"rows": rows, "peak_rss_mb": peak_mb, "seconds": seconds})
        print(json.dumps(result["days"][-1]), flush=True)
        shutil.rmtree(home, ignore_errors=True)
    small, large = result["days"]
    result["ratio_peak_1m_over_100k"] = round(large["peak_rss_mb"] / small["peak_rss_mb"], 2)
    print(result["cpu"])
    print(json.dumps(result, indent=2))
    (HERE / "results" / "queue_memory.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
