"""Training recipes compared on people's labels, in one run: each trains a fresh version from the
same prepared store (`sentiops train` with the recipe's options), then is measured on
tweeteval_2017_eval.csv (human labels, 2016-17) and the Sentiment140 holdout: accuracy, macro-F1,
per-class recall; with its validation accuracy (what a choice may use: never the eval file),
training time, exported size and in-process texts/s on `auto`'s engine for this CPU.
Writes benchmarks/results/accuracy.{json,md}.

    python benchmarks/accuracy_bench.py --home var/auto-bench [--examples 8000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from sklearn.metrics import f1_score, recall_score

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model  # noqa: E402

from sentiops.data.labels import LABELS  # noqa: E402
from sentiops.inference import Predictor  # noqa: E402
from sentiops.registry import Registry  # noqa: E402

EVAL = HERE.parent.parent / "shared" / "data" / "tweeteval_2017_eval.csv"
RECIPES: list[tuple[str, list[str]]] = [
    ("default (1 epoch)", []),
    ("label smoothing 0.1", ["--label-smoothing", "0.1"]),
    ("2 epochs", ["--epochs", "2"]),
]


def scores(predictor: Predictor, texts: list[str], truth: list[str]) -> dict:
    predicted = [p.label for p in predictor.predict(texts)]
    recall = recall_score(truth, predicted, labels=list(LABELS), average=None)
    return {
        "accuracy": round(float(np.mean(np.array(predicted) == np.array(truth))), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4),
        "recall": {name: round(float(r), 4) for name, r in zip(LABELS, recall, strict=True)},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True, help="a home with a prepared store (data/)")
    parser.add_argument("--examples", type=int, default=8000)
    args = parser.parse_args()
    with open(EVAL, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))  # Sentiment140's scheme: target 0 / 4
    eval_texts = [r["text"] for r in rows]
    eval_truth = [LABELS[0] if r["target"] == "0" else LABELS[1] for r in rows]
    holdout = pq.read_table(args.home / "data" / "holdout.parquet", columns=["text", "label"]).to_pylist()
    print(f"CPU: {cpu_model()}", flush=True)

    found = []
    for name, options in RECIPES:
        home = Path(tempfile.mkdtemp(prefix="accuracy-bench-"))
        os.symlink((args.home / "data").resolve(), home / "data")
        env = {**os.environ, "SENTIOPS_HOME": str(home)}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "sentiops.cli", "train", "--max-examples", str(args.examples), *options],
            env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        registry = Registry(home / "registry")
        folder = registry.path("1")
        predictor = Predictor.from_folder(folder, "1", backend="auto")
        metrics = registry.folder("1").metrics()
        served = {"ort-int8": "model.int8.onnx", "openvino-int8": "model.ov-int8.bin"}.get(predictor.backend)
        size = (folder / served).stat().st_size if served else (folder / "model.onnx").stat().st_size
        row = {
            "recipe": name,
            "options": options,
            "train_seconds": round(seconds, 1),
            "validation_accuracy": round(metrics.validation.accuracy, 4) if metrics.validation else None,
            "tweeteval_2017_eval": scores(predictor, eval_texts, eval_truth),
            "holdout": scores(predictor, [r["text"] for r in holdout], [LABELS[r["label"]] for r in holdout]),
            "engine": predictor.backend,
            "texts_per_second": predictor.choice["texts_per_second"][predictor.backend],
            "served_model_mb": round(size / 2**20, 1),
        }
        found.append(row)
        print(json.dumps(row), flush=True)
        shutil.rmtree(home, ignore_errors=True)

    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpu": cpu_model(),
              "examples": args.examples, "recipes": found}  # fmt: skip
    (HERE / "results" / "accuracy.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"CPU: {result['cpu']}; {args.examples} Sentiment140 tweets per recipe; all-MiniLM-L6-v2",
        "",
        "| recipe | validation acc | 2017 acc / macro-F1 | 2017 recall neg / pos | holdout acc / macro-F1 "
        "| train s | engine, texts/s | served MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in found:
        e, h = r["tweeteval_2017_eval"], r["holdout"]
        lines.append(
            f"| {r['recipe']} | {r['validation_accuracy']} | {e['accuracy']} / {e['macro_f1']} | "
            f"{e['recall']['negative']} / {e['recall']['positive']} | {h['accuracy']} / {h['macro_f1']} | "
            f"{r['train_seconds']} | {r['engine']}, {r['texts_per_second']} | {r['served_model_mb']} |"
        )
    (HERE / "results" / "accuracy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
