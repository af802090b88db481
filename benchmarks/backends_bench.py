"""Engines side by side on this CPU: every available backend in process (texts/s, agreement with
fp32, validation accuracy), what `auto` picks and how long picking takes, and `sentiops batch
run` end to end with `auto` against ONNX Runtime int8 (the engine used before `auto`), each
setting run --repeats times, interleaved, medians compared (whole runs vary by up to 10%).

    python benchmarks/backends_bench.py --registry var/bench/registry [--rows 30000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model, sample_rows  # noqa: E402

from sentiops import engines  # noqa: E402
from sentiops.inference import Predictor  # noqa: E402
from sentiops.registry import Registry  # noqa: E402


def in_process(folder: Path, texts: list[str], labels: list[int]) -> list[dict]:
    rows = []
    fp32 = Predictor.from_folder(folder, backend="ort-fp32").probabilities(texts)[0].argmax(1)
    for backend in engines.eligible(folder):
        predictor = Predictor.from_folder(folder, backend=backend)
        predictor.probabilities(texts[:200])  # warm-up
        started = time.perf_counter()
        predicted = predictor.probabilities(texts)[0].argmax(1)
        seconds = time.perf_counter() - started
        rows.append(
            {
                "backend": backend,
                "texts_per_second": round(len(texts) / seconds, 1),
                "agreement_with_fp32": round(float((predicted == fp32).mean()), 4),
                "accuracy": round(float((predicted == labels).mean()), 4),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def batch_run(source: Path, backend: str, registry: Path, work: Path) -> float:
    results = work / f"results-{backend}-{time.time_ns()}"
    env = {
        **os.environ,
        "SENTIOPS_REGISTRY_DIR": str(registry),
        "SENTIOPS_HOME": str(work),
        "SENTIOPS_RESULTS_DIR": str(results),
        "SENTIOPS_BACKEND": backend,
    }
    command = [sys.executable, "-m", "sentiops.cli", "batch", "run", "--input", str(source), "--no-drift"]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    manifest = json.loads(next(results.glob("runs/date=*/part-*.json")).read_text())
    return manifest["rows_scored"] / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registry", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=30000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("var/bench/backends"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}", flush=True)

    registry = Registry(args.registry)
    folder = registry.verify(registry.resolve("production"))
    rows = sample_rows()
    spread = rows[::12][:2500]  # the file holds its negatives first: take both classes
    texts = [r[1] for r in spread]
    labels = [0 if r[0] == "0" else 1 for r in spread]
    import numpy as np

    engines_rows = in_process(folder, texts, np.array(labels))
    started = time.perf_counter()
    auto = Predictor.from_folder(folder, backend="auto")
    choose_seconds = round(time.perf_counter() - started, 2)
    print(f"auto picks {auto.backend} in {choose_seconds} s: {auto.choice['texts_per_second']}", flush=True)

    args.work.mkdir(parents=True, exist_ok=True)
    source = args.work / f"tweets-{args.rows}.csv"
    with open(source, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows((f"r{i}", rows[(i * 7919) % len(rows)][1]) for i in range(args.rows))  # both classes
    runs: dict[str, list[float]] = {"auto": [], "ort-int8": []}
    for _ in range(args.repeats):
        for backend in runs:
            runs[backend].append(round(batch_run(source, backend, args.registry, args.work), 1))
            print(f"batch {backend}: {runs[backend][-1]} rows/s", flush=True)
    medians = {k: statistics.median(v) for k, v in runs.items()}
    ratio = round(medians["auto"] / medians["ort-int8"], 2)
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu": cpu_model(),
        "in_process": engines_rows,
        "auto": {"backend": auto.backend, "seconds_to_choose": choose_seconds, "choice": auto.choice},
        "batch_rows_per_second": runs,
        "batch_medians": medians,
        "batch_ratio_auto_vs_ort_int8": ratio,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "backends.json").write_text(json.dumps(result, indent=2))
    lines = ["| engine | texts/s | agreement with fp32 | accuracy (2,500 sample tweets) |", "|---|---|---|---|"]
    lines += [
        f"| {r['backend']} | {r['texts_per_second']} | {r['agreement_with_fp32']:.2%} | {r['accuracy']:.4f} |"
        for r in engines_rows
    ]
    lines += [
        "",
        f"auto picks {auto.backend} in {choose_seconds} s. Batch, {args.rows:,} rows, rows/s: "
        + "; ".join(f"{k} {v} (median {medians[k]})" for k, v in runs.items())
        + f". auto / ort-int8 = {ratio}x. CPU: {cpu_model()}",
    ]
    (args.out / "backends.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
