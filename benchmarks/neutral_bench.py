"""Three-way sentiment from people's labels: the 2016-17 scenario with its neutral tweets.

    python benchmarks/neutral_bench.py --home var/labels-bench [--rounds 500,1000,2000,all] [--binary-at 1000,all]

`--home` holds a prepared store and a registry whose production is a binary default-recipe model
(`make bench-neutral` makes it, the same home as `make bench-labels`). On a copy of it:

1. the pool halves (tweeteval_2017_pool.csv + tweeteval_2017_neutral_pool.csv, 3,850 tweets, 48%
   neutral) arrive, half through the API and half as a batch day;
2. for each label count, from that same starting point, the queue picks tweets and a scripted
   labeller answers with the files' labels (neutral included) through the Label page's routes;
3. `retrain` runs (three-class once `SENTIOPS_NEUTRAL_MIN_LABELS` of people's neutral labels would
   train) and the gate decides; the challenger and production are measured on the eval halves
   (tweeteval_2017_eval.csv + tweeteval_2017_neutral_eval.csv, never trained on, never queued):
   macro-recall, accuracy, per-class recall, and negative/positive accuracy on
   tweeteval_2017_eval.csv in the two-class view;
4. at the `--binary-at` counts a binary challenger is trained on the same labels (neutral left
   waiting) for the negative/positive comparison;
5. texts/s of the three-class model against the binary one, same engine, interleaved;
6. at the `--distill-at` counts, on a copy with the same labels: the mpnet teacher fine-tuned on
   people's trusted labels (`teacher train --from-labels`, the gate's held-back share left out),
   measured itself on the eval halves, labels the unlabelled traffic and train texts, and
   `retrain --distill` trains the student from it: the distilled challenger beside the direct one.
   Needs `make teacher-base`.

Results: benchmarks/results/neutral.{json,md} (`--name` for another file name).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model  # noqa: E402
from labels_bench import SHARED, arrive, holdout_rows, label_round, predictor, sentiops  # noqa: E402

Rows = list[tuple[int, str]]  # (label id, text)
TARGET = {"0": 0, "4": 1, "2": 2}  # Sentiment140's codes onto LABELS ids (negative, positive, neutral)


def read_three_way(*paths: Path) -> list[tuple[int, str]]:
    rows = []
    for path in paths:
        with open(path, newline="", encoding="utf-8") as handle:
            rows += [(TARGET[r["target"]], r["text"]) for r in csv.DictReader(handle)]
    return rows


def measure(home: Path, version: str, three_way: list[tuple[int, str]], binary: list[tuple[int, str]]) -> dict:
    """A registered version on the eval halves (`scores`)."""
    model = predictor(home, version)
    three, _, _ = model.probabilities([t for _, t in three_way])
    pair, _, _ = model.probabilities([t for _, t in binary])
    return {"version": version, **scores(three, pair, three_way, binary)}


def scores(three: np.ndarray, pair: np.ndarray, three_way: Rows, binary: Rows) -> dict:
    """Macro-recall, accuracy and per-class recall on the three-way eval halves (probabilities
    ``three``); negative/positive accuracy on tweeteval_2017_eval.csv in the two-class view
    (probabilities ``pair``, neutral folded out)."""
    from sentiops.data.labels import LABELS
    from sentiops.evaluation.metrics import binary_view, classification_report

    report = classification_report(np.array([y for y, _ in three_way]), three, LABELS)
    two_class = float((binary_view(pair).argmax(axis=1) == np.array([y for y, _ in binary])).mean())
    return {
        "classes": three.shape[1],
        "macro_recall": round(report["macro_recall"], 4),
        "accuracy": round(report["accuracy"], 4),
        "recall": {name: round(v["recall"], 4) for name, v in report["per_class"].items()},
        "binary_eval_accuracy": round(two_class, 4),
    }


def holdout_accuracy(home: Path, version: str) -> float:
    from sentiops.evaluation.metrics import binary_view

    rows = holdout_rows(home)
    probs, _, _ = predictor(home, version).probabilities([t for _, t in rows])
    return round(float((binary_view(probs).argmax(axis=1) == np.array([y for y, _ in rows])).mean()), 4)


def teacher_scores(folder: Path, three_way: list[tuple[int, str]], binary: list[tuple[int, str]]) -> dict:
    """The teacher itself on the eval halves (what the student could learn at best from it)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from sentiops.config import DEFAULT_MAX_LENGTH
    from sentiops.training.distill import class_probabilities

    model = AutoModelForSequenceClassification.from_pretrained(folder / "hf").eval()
    tokenizer = AutoTokenizer.from_pretrained(folder / "hf")
    three = class_probabilities(model, tokenizer, [t for _, t in three_way], DEFAULT_MAX_LENGTH)
    pair = class_probabilities(model, tokenizer, [t for _, t in binary], DEFAULT_MAX_LENGTH)
    return scores(three, pair, three_way, binary)


def distilled(home: Path, teacher_base: Path, epochs: str, three_way, binary) -> dict:
    """Teacher from people's labels, its labels, a distilled retrain: on ``home`` (a copy)."""
    started = time.time()
    out = sentiops(
        home,
        "teacher",
        "train",
        "--from-labels",
        "--base-model",
        str(teacher_base),
        "--epochs",
        epochs,
        "--label-texts",
        "4000",
        "--json",
    )
    record = json.loads(out[out.index("{") :])
    teacher_seconds = round(time.time() - started)
    started = time.time()
    out = sentiops(home, "retrain", "--distill", "--json")
    decision = json.loads(out[out.index("{") :])
    step = measure(home, decision["challenger"], three_way, binary)
    step.update(
        action=decision["action"],
        reasons=decision["reasons"],
        rows=decision["numbers"].get("data"),
        difference=decision["numbers"]["difference"],
        retrain_seconds=round(time.time() - started),
        holdout=holdout_accuracy(home, decision["challenger"]),
        teacher={
            "train_seconds": record["train_seconds"],
            "seconds_with_labelling": teacher_seconds,
            "examples": record["examples"],
            "epochs": float(epochs),
            "trusted_eval": record.get("trusted_eval"),
            "labels": record.get("labels", {}).get("rows"),
            "eval_halves": teacher_scores(home / "teacher", three_way, binary),
        },
    )
    return step


def run(
    base: Path,
    rounds: list[str],
    binary_at: set[str],
    distill_at: set[str],
    teacher_epochs: str,
    pool,
    three_way,
    binary,
    port: int,
) -> dict:
    from sentiops.text import dedup_key

    home = base.parent / f"{base.name}-neutral"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copytree(base / "data", home / "data")
    shutil.copytree(base / "registry", home / "registry")
    for part in (home / "data" / "feedback").glob("*.parquet"):  # only people's labels come back
        part.unlink()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    arrive(home, pool, port, today)
    answers = {dedup_key(t): y for y, t in pool}
    first = json.loads((home / "registry" / "aliases.json").read_text())["production"]
    steps = [{"labels": 0, "production": measure(home, first, three_way, binary)}]
    print(json.dumps(steps[0]), flush=True)
    snapshot = home.parent / f"{home.name}-start"
    shutil.rmtree(snapshot, ignore_errors=True)
    shutil.copytree(home, snapshot)
    for target in rounds:
        size = len(pool) if target == "all" else int(target)
        shutil.rmtree(home)
        shutil.copytree(snapshot, home)
        sentiops(home, "label", "queue", "--since", today, "--size", str(size), "--seed", "1")
        labelled = label_round(home, answers, port)
        if target in binary_at:  # the same labels, before the retrain: a binary challenger beside it
            twin = home.parent / f"{home.name}-binary"
            shutil.rmtree(twin, ignore_errors=True)
            shutil.copytree(home, twin)
        if target in distill_at:  # the same labels again: a teacher and a distilled challenger
            taught = home.parent / f"{home.name}-teacher"
            shutil.rmtree(taught, ignore_errors=True)
            shutil.copytree(home, taught)
        started = time.time()
        out = sentiops(home, "retrain", "--json")
        decision = json.loads(out[out.index("{") :])
        n = decision["numbers"]
        production = json.loads((home / "registry" / "aliases.json").read_text())["production"]
        step = {
            "labels": labelled,
            "target": target,
            "retrain_seconds": round(time.time() - started),
            "action": decision["action"],
            "reasons": decision["reasons"],
            "rows": n.get("data"),
            "gate": {
                "metric": n["paired"].get("metric"),
                "difference": n["difference"],
                "interval": n["interval"],
                "n": n["paired"]["n"],
                "class_guard": n.get("class_guard"),
            },
            "challenger": measure(home, decision["challenger"], three_way, binary),
            "challenger_holdout": holdout_accuracy(home, decision["challenger"]),
            "production_version": production,
        }
        if target in binary_at:
            out = sentiops(twin, "retrain", "--json", env={"SENTIOPS_NEUTRAL_MIN_LABELS": "1000000000"})
            twin_decision = json.loads(out[out.index("{") :])
            step["binary_challenger"] = measure(twin, twin_decision["challenger"], three_way, binary)
            step["binary_challenger"]["action"] = twin_decision["action"]
            if step["challenger"]["classes"] == 3:
                step["speed"] = speed_pair(home, decision["challenger"], twin, twin_decision["challenger"], binary)
            shutil.rmtree(twin, ignore_errors=True)
        if target in distill_at:
            step["distilled"] = distilled(taught, mpnet(base), teacher_epochs, three_way, binary)
            shutil.rmtree(taught, ignore_errors=True)
        print(json.dumps(step), flush=True)
        steps.append(step)
    shutil.rmtree(snapshot, ignore_errors=True)
    return {"steps": steps}


def mpnet(base: Path) -> Path:
    """The teacher's base model, unpacked once beside the scenario's homes."""
    from sentiops.training.distill import mpnet_base_model

    return mpnet_base_model(base.parent / "models")


def speed_pair(home: Path, three: str, twin: Path, two: str, binary) -> dict:
    """Texts/s of the three-class and the binary challenger on tweeteval_2017_eval.csv's texts."""
    from sentiops.engines import openvino_available

    backend = "openvino-int8" if openvino_available() else "ort-int8"
    predictors = {"three": predictor(home, three, backend), "binary": predictor(twin, two, backend)}
    texts = [t for _, t in binary]
    best = dict.fromkeys(predictors, 0.0)
    for _ in range(3):
        for name, model in predictors.items():
            started = time.perf_counter()
            model.probabilities(texts)
            best[name] = max(best[name], len(texts) / (time.perf_counter() - started))
    return {
        "backend": backend,
        "texts": len(texts),
        "texts_per_second": {name: round(rate, 1) for name, rate in best.items()},
        "three_over_binary": round(best["three"] / best["binary"], 3),
    }


def markdown(result: dict) -> str:
    lines = [
        f"# Three-way sentiment from people's labels ({result['cpu']})",
        "",
        "Eval halves: tweeteval_2017_eval.csv + tweeteval_2017_neutral_eval.csv (3,850 tweets, people's labels,",
        "never trained on or queued). Macro-recall over negative / neutral / positive (a binary model scores 0",
        "on neutral); neg/pos accuracy = tweeteval_2017_eval.csv in the two-class view (neutral folded out).",
        "Each count starts from the same binary production model; trained = people's / other / replayed rows.",
        "",
        "| labels | trained | challenger classes | macro-recall | accuracy | recall neg / neu / pos"
        " | neg/pos accuracy | binary twin neg/pos | holdout | gate (metric, interval) | retrain s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    decisions = []
    for s in result["steps"]:
        if s["labels"] == 0:
            p = s["production"]
            recall = " / ".join(f"{p['recall'].get(k, 0):.3f}" for k in ("negative", "neutral", "positive"))
            lines.append(
                f"| 0 (production) | – | {p['classes']} | {p['macro_recall']:.4f} | {p['accuracy']:.4f} | {recall} "
                f"| {p['binary_eval_accuracy']:.4f} | – | – | – | – |"
            )
            continue
        c, rows, gate = s["challenger"], s["rows"] or {}, s["gate"]
        trained = f"{rows.get('trusted_train', 0)} / {rows.get('untrusted_train', 0)} / {rows.get('replay', 0)}"
        recall = " / ".join(f"{c['recall'].get(k, 0):.3f}" for k in ("negative", "neutral", "positive"))
        twin = s.get("binary_challenger")
        twin_text = f"{twin['binary_eval_accuracy']:.4f}" if twin else "–"
        low, high = gate["interval"]
        lines.append(
            f"| {s['labels']} | {trained} | {c['classes']} | {c['macro_recall']:.4f} | {c['accuracy']:.4f} | {recall} "
            f"| {c['binary_eval_accuracy']:.4f} | {twin_text} | {s['challenger_holdout']:.4f} "
            f"| {s['action']} ({gate['metric']}, n {gate['n']}, [{low:+.3f}, {high:+.3f}]) | {s['retrain_seconds']} |"
        )
        decisions.append(f"- {s['labels']} labels: {s['action']}; " + "; ".join(s["reasons"]))
        if s.get("speed"):
            sp = s["speed"]
            decisions.append(
                f"  - speed ({sp['backend']}, {sp['texts']} texts, best of 3 interleaved): three-class "
                f"{sp['texts_per_second']['three']} texts/s, binary {sp['texts_per_second']['binary']} "
                f"(ratio {sp['three_over_binary']})"
            )
    taught = [s for s in result["steps"] if s.get("distilled")]
    if taught:
        lines += [
            "",
            "## Distilled from the mpnet teacher (same labels)",
            "",
            "The teacher: all-mpnet-base-v2 fine-tuned on people's trusted labels (the gate's held-back share",
            "left out); the student: `retrain --distill` (people's labels as they are; replayed and unlabelled",
            "traffic rows with the teacher's probabilities). Direct = the challenger of the table above.",
            "",
            "| labels | teacher macro-recall / neg/pos acc | teacher s | distilled: trained (people / traffic / replay)"
            " | macro-recall | recall neg / neu / pos | neg/pos accuracy | holdout | gate | direct macro-recall |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in taught:
            d, t = s["distilled"], s["distilled"]["teacher"]
            rows = d["rows"] or {}
            trained = f"{rows.get('trusted_train', 0)} / {rows.get('teacher_traffic', 0)} / {rows.get('replay', 0)}"
            recall = " / ".join(f"{d['recall'].get(k, 0):.3f}" for k in ("negative", "neutral", "positive"))
            te = t["eval_halves"]
            lines.append(
                f"| {s['labels']} | {te['macro_recall']:.4f} / {te['binary_eval_accuracy']:.4f} "
                f"| {t['seconds_with_labelling']} | {trained} | {d['macro_recall']:.4f} | {recall} "
                f"| {d['binary_eval_accuracy']:.4f} | {d['holdout']:.4f} | {d['action']} "
                f"| {s['challenger']['macro_recall']:.4f} |"
            )
            decisions.append(f"- {s['labels']} labels, distilled: {d['action']}; " + "; ".join(d["reasons"]))
    return "\n".join([*lines, "", "## The gate's decisions", "", *decisions]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--rounds", default="500,1000,2000,all")
    parser.add_argument("--binary-at", default="1000,all")
    parser.add_argument("--distill-at", default="", help="Label counts with a teacher and a distilled challenger.")
    parser.add_argument("--teacher-epochs", default="3")
    parser.add_argument("--name", default="neutral", help="Result file name (without .json/.md).")
    parser.add_argument("--port", type=int, default=8793)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    pool = read_three_way(SHARED / "tweeteval_2017_pool.csv", SHARED / "tweeteval_2017_neutral_pool.csv")
    three_way = read_three_way(SHARED / "tweeteval_2017_eval.csv", SHARED / "tweeteval_2017_neutral_eval.csv")
    binary = read_three_way(SHARED / "tweeteval_2017_eval.csv")
    rounds = args.rounds.split(",")
    result = {"cpu": cpu_model(), "rounds": rounds}
    print(result["cpu"], flush=True)
    started = time.time()
    given = {"binary": args.binary_at, "distill": args.distill_at}
    at = {name: set(filter(None, value.split(","))) for name, value in given.items()}
    result.update(
        run(
            args.home.resolve(),
            rounds,
            at["binary"],
            at["distill"],
            args.teacher_epochs,
            pool,
            three_way,
            binary,
            args.port,
        )
    )
    result["seconds"] = round(time.time() - started)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2, default=str))
    (args.out / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
