"""Drift checks' false-alarm and detection rates, measured: at 100, 200, 1,000 and 10,000 rows
per day, 200 simulated days each, of (a) the same distribution as the reference, (b) a 65/35
class shift, (c) out-of-domain text (lines of Python's own source code). Printed and written to
benchmarks/results/drift.{json,md}; a benchmark, not a timed test.

    python benchmarks/drift_bench.py --registry var/bench/registry [--days 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model, sample_rows  # noqa: E402

from sentiops.config import Thresholds  # noqa: E402
from sentiops.evaluation.calibration import estimate_accuracy, fit_temperature  # noqa: E402
from sentiops.inference import Predictor  # noqa: E402
from sentiops.monitoring.drift import check_batch  # noqa: E402
from sentiops.monitoring.profile import build_profile  # noqa: E402
from sentiops.registry import Registry  # noqa: E402

SIZES = (100, 200, 1000, 10000)


def out_of_domain(n: int) -> list[str]:
    """Comment and docstring lines of the standard library: English, but not tweets."""
    lines: list[str] = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        for line in path.read_text(errors="ignore").splitlines():
            line = line.strip().lstrip("#").strip()
            if 30 <= len(line) <= 140 and re.search(r"[a-z]{3,} [a-z]{3,}", line):
                lines.append(line)
        if len(lines) >= n:
            break
    return lines[:n]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registry", type=Path, required=True)
    parser.add_argument("--days", type=int, default=200)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    started = time.time()
    print(f"CPU: {cpu_model()}", flush=True)

    rows = sample_rows()
    rng = np.random.default_rng(0)
    rows = [rows[i] for i in rng.permutation(len(rows))]
    texts = [r[1] for r in rows]
    truth = np.array([0 if r[0] == "0" else 1 for r in rows])
    predictor = Predictor.load(Registry(args.registry), backend="auto")
    probs, tokens, unknown = predictor.probabilities(texts)
    ood = out_of_domain(12000)
    ood_probs, ood_tokens, ood_unknown = predictor.probabilities(ood)
    print(f"scored {len(texts)} tweets and {len(ood)} out-of-domain lines with {predictor.backend}", flush=True)

    ref = np.arange(4000)  # the reference: 4,000 tweets the days never draw from
    pool = np.arange(4000, len(texts))
    reference = build_profile([texts[i] for i in ref], probs[ref], tokens[ref], unknown[ref], predictor.labels)
    accuracy = float((probs[ref].argmax(1) == truth[ref]).mean())
    temperature = fit_temperature(probs[ref], truth[ref])
    reference = dataclasses.replace(reference, metrics={"holdout": {"accuracy": accuracy, "macro_f1": accuracy}})
    thresholds = Thresholds()
    positives, negatives = pool[truth[pool] == 1], pool[truth[pool] == 0]

    def day(kind: str, n: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        if kind == "out_of_domain":
            pick = rng.choice(len(ood), n, replace=False)
            return [ood[i] for i in pick], ood_probs[pick], ood_tokens[pick], ood_unknown[pick]
        if kind == "same":
            pick = rng.choice(pool, n, replace=False)
        else:  # 65/35 class shift
            k = round(0.65 * n)
            pick = np.concatenate(
                [rng.choice(positives, k, replace=False), rng.choice(negatives, n - k, replace=False)]
            )
        return [texts[i] for i in pick], probs[pick], tokens[pick], unknown[pick]

    results: dict[str, dict[str, dict]] = {}
    for kind in ("same", "shift_65_35", "out_of_domain"):
        results[kind] = {}
        for n in SIZES:
            flagged, drifted, per_check = 0, 0, {}
            for _ in range(args.days):
                day_texts, p, t, u = day(kind, n)
                batch = build_profile(day_texts, p, t, u, predictor.labels, seed=int(rng.integers(1 << 30)))
                report = check_batch(reference, batch, thresholds, estimate=estimate_accuracy(p, temperature))
                flagged += report.status in ("warning", "drift")
                drifted += report.status == "drift"
                for check in report.checks:
                    per_check[check.name] = per_check.get(check.name, 0) + (check.status in ("warning", "drift"))
            results[kind][str(n)] = {
                "days": args.days,
                "flagged_share": flagged / args.days,
                "drift_share": drifted / args.days,
                "per_check_flagged_share": {k: v / args.days for k, v in per_check.items()},
            }
            print(
                f"{kind:>14} n={n:>5}: flagged {flagged / args.days:.1%} (drift {drifted / args.days:.1%}) "
                f"{ {k: round(v / args.days, 3) for k, v in per_check.items()} }",
                flush=True,
            )

    out = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu": cpu_model(),
        "seconds": round(time.time() - started),
        "model_backend": predictor.backend,
        "reference_rows": len(ref),
        "results": results,
        "targets": {
            "same_distribution_flagged_at_most": 0.01,
            "shift_65_35_detected_at_1000_at_least": 0.95,
            "met": all(results["same"][str(n)]["flagged_share"] <= 0.01 for n in SIZES)
            and results["shift_65_35"]["1000"]["flagged_share"] >= 0.95,
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "drift.json").write_text(json.dumps(out, indent=2))
    lines = ["| days of | rows/day | flagged (warning or drift) | of which drift |", "|---|---|---|---|"]
    for kind, by_size in results.items():
        for n, r in by_size.items():
            lines.append(f"| {kind} | {int(n):,} | {r['flagged_share']:.1%} | {r['drift_share']:.1%} |")
    lines.append("")
    lines.append(f"{args.days} days per row; targets met: {out['targets']['met']}. CPU: {out['cpu']}")
    (args.out / "drift.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
