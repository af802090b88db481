"""Peak memory of `sentiops drift check` on a scored day of 100,000 and of 1,000,000 rows, in one
run: the check reads the day chunk by chunk, so its peak must not grow with the day (target:
1M within 1.2x of 100k). The days are synthetic scores of real tweets (the bundled sample).

    python benchmarks/drift_memory_bench.py --registry var/bench/registry
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model, peak_rss, sample_rows  # noqa: E402

from sentiops.registry import Registry  # noqa: E402
from sentiops.scoring.job import score_schema  # noqa: E402

SIZES = (100_000, 1_000_000)


def write_day(folder: Path, rows: int, version: str, texts: list[str]) -> None:
    rng = np.random.default_rng(rows)
    folder.mkdir(parents=True)
    chunk = 100_000
    schema = score_schema(["negative", "positive"])  # the batch job's own scores format
    scored_at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with pq.ParquetWriter(folder / "part-00000-of-00001.parquet", schema) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            positive = rng.beta(2, 2, n).astype(np.float32)
            writer.write_table(
                pa.table(
                    {
                        "row_id": [f"r{start + i}" for i in range(n)],
                        "prediction_id": [f"batch-20261101-{start + i:020d}" for i in range(n)],
                        "source_file": ["day.csv"] * n,
                        "text": [texts[(start + i) % len(texts)] for i in range(n)],
                        "label": np.where(positive >= 0.5, "positive", "negative").tolist(),
                        "confidence": np.maximum(positive, 1 - positive),
                        "score_negative": 1 - positive,
                        "score_positive": positive,
                        "tokens": rng.integers(6, 48, n).astype(np.int16),
                        "unknown_tokens": rng.integers(0, 2, n).astype(np.int16),
                        "model_version": [version] * n,
                        "scored_at": [scored_at] * n,
                    },
                    schema=schema,
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registry", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}", flush=True)
    version = Registry(args.registry).resolve("production")
    texts = [row[1] for row in sample_rows()]
    results = Path(tempfile.mkdtemp()) / "results"
    env = {**os.environ, "SENTIOPS_REGISTRY_DIR": str(args.registry), "SENTIOPS_RESULTS_DIR": str(results)}
    measured = []
    for i, rows in enumerate(SIZES):
        date = (dt.date(2026, 11, 1) + dt.timedelta(days=i)).isoformat()
        write_day(results / "scores" / f"date={date}", rows, version, texts)
        command = [sys.executable, "-m", "sentiops.cli", "drift", "check", "--results", date, "--no-notify"]
        seconds, peak_mb = peak_rss(command, env)
        measured.append({"rows": rows, "peak_rss_mb": peak_mb, "seconds": seconds})
        print(json.dumps(measured[-1]), flush=True)
    ratio = round(measured[1]["peak_rss_mb"] / measured[0]["peak_rss_mb"], 3)
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu": cpu_model(),
        "runs": measured,
        "peak_ratio_1m_over_100k": ratio,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "drift_memory.json").write_text(json.dumps(result, indent=2))
    print(f"peak RSS 1M / 100k: {ratio} (target <= 1.2)")


if __name__ == "__main__":
    main()
