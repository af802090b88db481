"""Dashboard page load times with a year of history: 50 registered versions, 365 days of drift
history and 50 retraining decisions (generated), each page requested 20 times in process after
one warm-up; median and worst printed. Target: every page under 300 ms.

    python benchmarks/ui_bench.py
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model  # noqa: E402

from sentiops.config import Settings  # noqa: E402
from sentiops.registry import Registry  # noqa: E402
from sentiops.serving.app import create_dashboard_app  # noqa: E402

PAGES = ["/ui", "/ui/versions", "/ui/drift", "/ui/retraining", "/ui/try"]


def generate(root: Path) -> Settings:
    rng = np.random.default_rng(0)
    registry = Registry(root / "registry")
    png = (
        (HERE.parent / "docs" / "ui-overview.png").read_bytes()
        if (HERE.parent / "docs" / "ui-overview.png").is_file()
        else b"\x89PNG"
    )
    for i in range(50):
        with registry.new_version() as pending:
            accuracy = 0.78 + rng.random() * 0.04
            metrics = {"holdout": {"accuracy": accuracy, "macro_f1": accuracy}, "parity": {"int8_fp32_agreement": 0.99}}
            (pending.path / "metrics.json").write_text(json.dumps(metrics))
            training = {
                "parent_version": str(i) if i else None,
                "created": f"2026-01-{1 + i % 28:02d}",
                "examples": 8000,
            }
            (pending.path / "training.json").write_text(json.dumps(training))
            (pending.path / "validation_confusion.png").write_bytes(png)
        registry.set_alias("production", pending.number, reason="retrain gate passed")
        registry.log_decision(
            {
                "challenger": pending.number,
                "champion": str(i),
                "action": "promoted",
                "reasons": ["all gate checks passed"],
                "numbers": {"paired": {"difference": 0.01, "interval": [0.001, 0.02], "n": 1200}},
            }
        )
    start = dt.date(2025, 11, 27)
    rows = [
        {
            "date": (start + dt.timedelta(days=d)).isoformat(),
            "model_version": "50",
            "status": "ok",
            "n": 1000,
            "positive_share": 0.5 + rng.normal(0, 0.02),
            "prediction_psi": abs(rng.normal(0, 0.01)),
            "js_distance": abs(rng.normal(0, 0.01)),
            "mean_confidence": 0.8 + rng.normal(0, 0.01),
            "confidence_ks": abs(rng.normal(0.03, 0.01)),
            "token_length_psi": abs(rng.normal(0, 0.01)),
            "unknown_token_share": 0.01,
            "accuracy": float("nan"),
            "estimated_accuracy": 0.8 + rng.normal(0, 0.01),
        }
        for d in range(365)
    ]
    (root / "results" / "drift").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "results" / "drift" / "history.parquet")
    return Settings(home=root, registry_dir=root / "registry", results_dir=root / "results")


def main() -> None:
    print(f"CPU: {cpu_model()}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = generate(Path(tmp))
        with TestClient(create_dashboard_app(settings)) as client:
            results = {}
            for page in PAGES:
                assert client.get(page).status_code == 200  # warm-up (templates compiled, checksums cached)
                times = []
                for _ in range(20):
                    started = time.perf_counter()
                    client.get(page)
                    times.append((time.perf_counter() - started) * 1000)
                results[page] = {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}
                print(f"{page:<16} median {results[page]['median_ms']:>6} ms   worst {results[page]['max_ms']:>6} ms")
    worst = max(r["max_ms"] for r in results.values())
    print(f"every page under 300 ms: {worst < 300} (worst {worst} ms) with 50 versions and 365 days")
    out = HERE / "results" / "ui.json"
    out.write_text(
        json.dumps(
            {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpu": cpu_model(), "pages": results}, indent=2
        )
    )


if __name__ == "__main__":
    main()
