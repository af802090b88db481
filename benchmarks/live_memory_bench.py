"""Peak memory and time of `sentiops models compare --live` over a prediction log of 100,000 and of
1,000,000 requests (each answered by production and shadowed by staging: twice the rows), spread
over 24 hours. The log is read an hour partition at a time, so memory follows the busiest hour.

    python benchmarks/live_memory_bench.py --registry var/bench/registry
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
from common import copy_as_new_version, cpu_model, peak_rss  # noqa: E402

from sentiops.data.predictions import SCHEMA  # noqa: E402
from sentiops.registry import Registry  # noqa: E402

SIZES = (100_000, 1_000_000)
HOURS = 24


def write_log(results: Path, requests: int, production: str, staging: str, start: dt.datetime) -> None:
    rng = np.random.default_rng(requests)
    per_hour = requests // HOURS
    for h in range(HOURS):
        when = start + dt.timedelta(hours=h)
        folder = results / "predictions" / f"date={when:%Y-%m-%d}" / f"hour={when:%H}"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = f"{when:%Y%m%d%H}"
        ids = [f"{stamp}-{h:04d}{i:016d}" for i in range(per_hour)]
        tables = []
        for role, version, shadow_of in (("production", production, None), ("shadow", staging, ids)):
            positive = rng.beta(2, 2, per_hour).astype(np.float32)
            tables.append(
                pa.table(
                    {
                        "prediction_id": ids if role == "production" else [f"{i}s" for i in ids],
                        "time": [when] * per_hour,
                        "request_id": ids,
                        "model_version": [version] * per_hour,
                        "engine": ["ort-int8"] * per_hour,
                        "role": [role] * per_hour,
                        "label": np.where(positive >= 0.5, "positive", "negative").tolist(),
                        "confidence": np.maximum(positive, 1 - positive),
                        "scores": [[("negative", 1 - p), ("positive", p)] for p in positive.tolist()],
                        "text": [None] * per_hour,
                        "text_sha256": ["0" * 64] * per_hour,
                        "shadow_of": shadow_of or [None] * per_hour,
                    },
                    schema=SCHEMA,
                )
            )
        pq.write_table(pa.concat_tables(tables), folder / "bench-000001.parquet")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registry", type=Path, required=True)
    args = parser.parse_args()
    result = {"cpu": cpu_model(), "hours": HOURS, "logs": []}
    for requests in SIZES:
        home = Path(tempfile.mkdtemp(prefix="live-bench-"))
        shutil.copytree(args.registry, home / "registry")
        registry = Registry(home / "registry")
        production = registry.resolve("production")
        staging = copy_as_new_version(registry, production)
        registry.set_alias("staging", staging, reason="live memory benchmark")
        start = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=HOURS)).replace(minute=0, second=0, microsecond=0)
        write_log(home / "results", requests, production, staging, start)
        since = f"{start:%Y-%m-%d}"
        command = [sys.executable, "-m", "sentiops.cli", "models", "compare", "--live", "--since", since, "--json"]
        env = {**os.environ, "SENTIOPS_HOME": str(home), "SENTIOPS_REGISTRY_DIR": str(home / "registry")}
        seconds, peak_mb = peak_rss(command, env)
        row = {"requests": requests, "rows": 2 * requests, "peak_rss_mb": peak_mb, "seconds": seconds}
        result["logs"].append(row)
        print(json.dumps(row), flush=True)
        shutil.rmtree(home, ignore_errors=True)
    small, large = result["logs"]
    result["ratio_peak_1m_over_100k"] = round(large["peak_rss_mb"] / small["peak_rss_mb"], 2)
    print(result["cpu"])
    print(json.dumps(result, indent=2))
    (HERE / "results" / "live_memory.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
