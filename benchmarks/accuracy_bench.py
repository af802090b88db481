"""Training recipes compared on people's labels, in one run: each trains a fresh version from the
same prepared store (`sentiops train` with the recipe's options), then is measured on
tweeteval_2017_eval.csv (human labels, 2016-17) and the Sentiment140 holdout: accuracy, macro-F1,
per-class recall; with its validation accuracy (what a choice may use: never the eval file),
training time and exported size. The teacher (`--teacher`, a folder `sentiops teacher train` and
`teacher label` wrote) is measured the same way in torch; the distilled recipes train on its
labels. Then every version's in-process texts/s on one engine (the best for the default model on
this CPU), alternating rounds, medians. Writes benchmarks/results/accuracy.{json,md}.

    python benchmarks/accuracy_bench.py --home var/frontier --teacher var/frontier/teacher [--recipe NAME --add]
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
# name -> `sentiops train` options; the distilled ones learn the teacher's labels.
RECIPES: dict[str, list[str]] = {
    "distant 8k (the default before)": ["--no-distill", "--max-examples", "8000"],
    "distilled 24k": ["--distill", "--max-examples", "24000"],
    "distant 24k": ["--no-distill", "--max-examples", "24000"],
    "distant 16k, 2 epochs": ["--no-distill", "--max-examples", "16000", "--epochs", "2"],
    "distilled 24k, 3 layers": ["--distill", "--max-examples", "24000", "--layers", "3"],
    "distant 8k, label smoothing 0.1": ["--no-distill", "--max-examples", "8000", "--label-smoothing", "0.1"],
    "distant 8k, 2 epochs": ["--no-distill", "--max-examples", "8000", "--epochs", "2"],
}
SPEED_ROUNDS = 3


def scores(predicted: list[str], truth: list[str]) -> dict:
    recall = recall_score(truth, predicted, labels=list(LABELS), average=None)
    return {
        "accuracy": round(float(np.mean(np.array(predicted) == np.array(truth))), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4),
        "recall": {name: round(float(r), 4) for name, r in zip(LABELS, recall, strict=True)},
    }


def measured(predict, sets: dict[str, tuple[list[str], list[str]]]) -> dict:
    return {name: scores(predict(texts), truth) for name, (texts, truth) in sets.items()}


def teacher_row(folder: Path, sets: dict, max_length: int) -> dict:
    """The teacher in torch (it is never served): its accuracy and what it cost."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from sentiops.engines import has_bf16
    from sentiops.training.distill import positive_probabilities

    record = json.loads((folder / "teacher.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(folder / "hf")
    model = AutoModelForSequenceClassification.from_pretrained(folder / "hf")

    def predict(texts: list[str]) -> list[str]:
        return [
            LABELS[1] if p >= 0.5 else LABELS[0] for p in positive_probabilities(model, tokenizer, texts, max_length)
        ]

    labels = pq.read_schema(folder / "labels.parquet").metadata or {}
    return {
        "recipe": f"teacher: {Path(record['base_model']).name}, {record['examples'] // 1000}k distant labels",
        "options": ["sentiops teacher train", f"--max-examples {record['examples']}"],
        "train_seconds": record["train_seconds"],
        "label_seconds": json.loads(labels.get(b"sentiops.teacher", b"{}")).get("seconds"),
        "validation_accuracy": record["validation_accuracy"],
        **measured(predict, sets),
        "engine": "torch bf16" if has_bf16() else "torch fp32",  # as positive_probabilities runs it
        "texts_per_second": record["texts_per_second"],
        "served_model_mb": round((folder / "hf" / "model.safetensors").stat().st_size / 2**20, 1),
    }


def speeds(folders: dict[str, Path], engine: str, texts: list[str]) -> dict[str, float]:
    """In-process texts/s of each version on one engine: alternating rounds, medians."""
    predictors = {name: Predictor.from_folder(folder, "1", backend=engine) for name, folder in folders.items()}
    for predictor in predictors.values():
        predictor.predict(texts[:256])  # warm
    found: dict[str, list[float]] = {name: [] for name in predictors}
    for _ in range(SPEED_ROUNDS):
        for name, predictor in predictors.items():
            started = time.perf_counter()
            predictor.predict(texts)
            found[name].append(len(texts) / (time.perf_counter() - started))
    return {name: round(float(np.median(v)), 1) for name, v in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True, help="a home with a prepared store (data/)")
    parser.add_argument("--teacher", type=Path, help="a teacher folder with labels (without: no distilled recipes)")
    parser.add_argument("--recipe", action="append", choices=list(RECIPES), help="repeatable (default: all)")
    parser.add_argument(
        "--add", action="store_true", help="keep the other rows of the last results (texts/s then differ by run)"
    )
    args = parser.parse_args()
    with open(EVAL, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))  # Sentiment140's scheme: target 0 / 4
    holdout = pq.read_table(args.home / "data" / "holdout.parquet", columns=["text", "label"]).to_pylist()
    sets = {
        "tweeteval_2017_eval": (
            [r["text"] for r in rows],
            [LABELS[0] if r["target"] == "0" else LABELS[1] for r in rows],
        ),
        "holdout": ([r["text"] for r in holdout], [LABELS[r["label"]] for r in holdout]),
    }
    print(f"CPU: {cpu_model()}", flush=True)
    chosen = args.recipe or list(RECIPES)
    if not args.teacher:
        chosen = [name for name in chosen if "--distill" not in RECIPES[name]]

    found, folders = [], {}
    work = Path(tempfile.mkdtemp(prefix="accuracy-bench-"))
    if args.teacher and not args.add:
        found.append(teacher_row(args.teacher, sets, 64))
        print(json.dumps(found[-1]), flush=True)
    for name in chosen:
        home = work / str(len(folders))
        home.mkdir()
        os.symlink((args.home / "data").resolve(), home / "data")
        env = {**os.environ, "SENTIOPS_HOME": str(home)}
        if args.teacher:
            env["SENTIOPS_TEACHER_DIR"] = str(args.teacher.resolve())
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "sentiops.cli", "train", *RECIPES[name]],
            env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        registry = Registry(home / "registry")
        folder = folders[name] = registry.path("1")
        predictor = Predictor.from_folder(folder, "1", backend="auto")
        metrics = registry.folder("1").metrics()
        served = {"ort-int8": "model.int8.onnx", "openvino-int8": "model.ov-int8.bin"}.get(predictor.backend)
        size = (folder / served).stat().st_size if served else (folder / "model.onnx").stat().st_size
        found.append({
            "recipe": name,
            "options": RECIPES[name],
            "train_seconds": round(seconds, 1),
            "validation_accuracy": round(metrics.validation.accuracy, 4) if metrics.validation else None,
            **measured(lambda texts, p=predictor: [x.label for x in p.predict(texts)], sets),
            "engine": predictor.backend,
            "served_model_mb": round(size / 2**20, 1),
        })  # fmt: skip
        print(json.dumps(found[-1]), flush=True)

    # One engine for all, so texts/s compare models, not engines: the default's choice here.
    engine = next((r["engine"] for r in found if r["recipe"] == chosen[0]), "ort-int8")
    per_version = speeds(folders, engine, sets["holdout"][0])
    for row in found:
        if row["recipe"] in per_version:
            row["engine"], row["texts_per_second"] = engine, per_version[row["recipe"]]
    shutil.rmtree(work, ignore_errors=True)

    if args.add:
        earlier = json.loads((HERE / "results" / "accuracy.json").read_text())["recipes"]
        ran = {r["recipe"] for r in found}
        found = [r for r in earlier if r["recipe"] not in ran] + found
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpu": cpu_model(), "recipes": found}
    (HERE / "results" / "accuracy.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"CPU: {result['cpu']}; student all-MiniLM-L6-v2; store {args.home}/data",
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
