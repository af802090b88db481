"""The 2016-17 scenario end to end: people's labels win back a model of the default recipe.

    python benchmarks/labels_bench.py --home var/labels-bench [--rounds 100,250,500,1000] [--modes ...]

`--home` holds a prepared store and a registry whose production is a default-recipe model
(Sentiment140 only; `make bench-labels` makes it). The modes:
`queue` (the queue's mix), `random` (purely random picks at the same label counts),
`queue-emoticon` (the queue's mix in a store that keeps the emoticon-labelled feedback
`data prepare` leaves) and `flipped` (the queue's mix, every label the opposite of the file's:
the gate must refuse each challenger), then `agreement` (three labellers, one flipping 30% of
answers: see `agreement_mode`). For each of the first four, on a copy of that home:

1. the tweets of tweeteval_2017_pool.csv arrive: half through the API (`sentiops serve`, one
   POST /predict each), half as a batch day (`sentiops batch run`, which runs the daily drift
   check and its label-free estimate);
2. for each label count, from that same starting point (a team that has labelled that many), the
   queue picks tweets (`label queue`) and a scripted labeller answers with the file's labels
   through the Label page's HTTP routes;
3. then: the date is checked again (realized against estimated accuracy), `retrain`
   runs, and the gate decides; the challenger and production are measured on
   tweeteval_2017_eval.csv (people's labels, never trained on, never queued) and on the
   Sentiment140 holdout, on the reference engine.

Results: benchmarks/results/labels.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model  # noqa: E402
from serve_bench import wait_ready  # noqa: E402

SHARED = HERE.parent.parent / "shared" / "data"


def read_labelled(path: Path) -> list[tuple[int, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [(0 if r["target"] == "0" else 1, r["text"]) for r in csv.DictReader(handle)]


def sentiops(home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    # The scenario queues exact label counts itself: no daily refresh by `batch run`.
    env = {**os.environ, "SENTIOPS_HOME": str(home), "SENTIOPS_LABEL_QUEUE_SIZE": "0", **(env or {})}
    done = subprocess.run([sys.executable, "-m", "sentiops.cli", *args], env=env, capture_output=True, text=True)
    if done.returncode not in (0, 4):  # 4: the drift check fired (results kept), as expected here
        raise RuntimeError(f"sentiops {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def arrive(home: Path, pool: list[tuple[int, str]], port: int, today: str) -> None:
    """Half the pool through the API, half as today's batch day (with its drift check)."""
    half = len(pool) // 2
    env = {**os.environ, "SENTIOPS_HOME": str(home), "SENTIOPS_PREDICTION_LOG_FLUSH_SECONDS": "0.5"}
    command = [sys.executable, "-m", "sentiops.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url)
        with httpx.Client(base_url=url, timeout=30) as client:
            for _, text in pool[:half]:
                client.post("/predict", json={"text": text}).raise_for_status()
    finally:
        server.terminate()  # SIGTERM: the prediction log flushes
        server.wait(timeout=60)
    day = home / "day.csv"
    with open(day, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(["text"])
        writer.writerows([t] for _, t in pool[half:])
    sentiops(home, "batch", "run", "--input", str(day), "--date", today)


def label_round(
    home: Path, answers: dict[str, int], port: int, who: tuple[str, str] | None = None, flip: float = 0.0
) -> int:
    """The scripted labeller: the Label page's routes, one queued item at a time, until none is
    left; ``who``: an account (name, password) signed in with HTTP Basic; ``flip``: the share of
    answers it turns around."""
    from sentiops.data.labels import LABELS
    from sentiops.text import dedup_key

    rng = np.random.default_rng(len(who[0]) if who else 0)
    env = {**os.environ, "SENTIOPS_HOME": str(home)}
    if who:
        env["SENTIOPS_LABELLERS_FILE"] = str(home / "labellers")
    command = [sys.executable, "-m", "sentiops.cli", "dashboard", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    done = 0
    try:
        deadline = time.time() + 60
        while True:
            try:
                httpx.get(f"{url}/ui", timeout=2)
                break
            except httpx.HTTPError:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        with httpx.Client(base_url=url, timeout=30, auth=who) as client:
            while (item := client.get("/ui/label/next").raise_for_status().json()["item"]) is not None:
                answer = answers[dedup_key(item["text"])]
                label = LABELS[1 - answer if answer < 2 and rng.random() < flip else answer]  # neutral stays
                client.post(f"/ui/label/items/{item['id']}", json={"label": label}).raise_for_status()
                done += 1
    finally:
        server.terminate()
        server.wait(timeout=60)
    return done


def predictor(home: Path, version: str, backend: str | None = None):
    """A version of ``home``'s registry on ``backend`` (default: the reference engine)."""
    from sentiops.config import Settings
    from sentiops.engines import REFERENCE
    from sentiops.inference import Predictor

    return Predictor.from_settings(Settings(home=home), version, backend or REFERENCE)  # type: ignore[arg-type]


def accuracy(home: Path, version: str, rows: list[tuple[int, str]]) -> float:
    probs, _, _ = predictor(home, version).probabilities([t for _, t in rows])
    return float((probs.argmax(axis=1) == np.array([y for y, _ in rows])).mean())


def holdout_rows(home: Path) -> list[tuple[int, str]]:
    from sentiops.data.store import read_split

    table = read_split(home / "data", "holdout")
    return list(zip(table.column("label").to_pylist(), table.column("text").to_pylist(), strict=True))


def realized(home: Path, today: str) -> dict:
    import pyarrow.parquet as pq

    from sentiops.config import Settings
    from sentiops.monitoring.check import recheck_late_labels
    from sentiops.volume import drift_history

    recheck_late_labels(Settings(home=home))
    rows = [r for r in pq.read_table(drift_history(home / "results")).to_pylist() if r["date"] == today]
    row = rows[-1] if rows else {}
    keep = ("status", "estimated_accuracy", "realized_accuracy", "realized_labels")
    return {k: row.get(k) for k in keep}


def run_mode(base: Path, mode: str, rounds: list[int], pool, evaluation, port: int) -> dict:
    from sentiops.text import dedup_key

    home = base.parent / f"{base.name}-{mode}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copytree(base / "data", home / "data")
    shutil.copytree(base / "registry", home / "registry")
    if mode != "queue-emoticon":  # only people's labels come back, not the pool `data prepare` cut out
        for part in (home / "data" / "feedback").glob("*.parquet"):
            part.unlink()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    started = time.time()
    arrive(home, pool, port, today)
    answers = {dedup_key(t): (1 - y if mode == "flipped" else y) for y, t in pool}
    holdout = holdout_rows(home)
    first = json.loads((home / "registry" / "aliases.json").read_text())["production"]
    steps = [
        {
            "labels": 0,
            "production": first,
            "eval_2017": accuracy(home, first, evaluation),
            "holdout": accuracy(home, first, holdout),
            **realized(home, today),
        }
    ]
    # Each count starts from the same home (the default-recipe model, no labels yet): what a team
    # that has labelled that many tweets sees, the gate comparing with the model it started from.
    snapshot = home.parent / f"{home.name}-start"
    shutil.rmtree(snapshot, ignore_errors=True)
    shutil.copytree(home, snapshot)
    for target in rounds:
        shutil.rmtree(home)
        shutil.copytree(snapshot, home)
        share = "1.0" if mode == "random" else "0.3"  # the queue's default mix otherwise
        sentiops(home, "label", "queue", "--since", today, "--size", str(target),
                 "--random-share", share, "--seed", "1")  # fmt: skip
        labelled = label_round(home, answers, port)
        check = realized(home, today)
        out = sentiops(home, "retrain", "--json")
        decision = json.loads(out[out.index("{") :])
        registry = json.loads((home / "registry" / "aliases.json").read_text())
        challenger = decision["challenger"]
        step = {
            "labels": labelled,
            "challenger": challenger,
            "action": decision["action"],
            "evidence": decision["numbers"].get("evidence"),
            "gate_difference": decision["numbers"]["difference"],
            "gate_interval": decision["numbers"]["interval"],
            "gate_n": decision["numbers"]["paired"]["n"],
            "mcnemar_p": decision["numbers"]["paired"]["mcnemar_p"],
            "holdout_guard": decision["numbers"]["paired_holdout"],
            "reasons": decision["reasons"],
            "rows": decision["numbers"]["data"],
            "production": registry["production"],
            "challenger_eval_2017": accuracy(home, challenger, evaluation),
            "challenger_holdout": accuracy(home, challenger, holdout),
            "eval_2017": accuracy(home, registry["production"], evaluation),
            "holdout": accuracy(home, registry["production"], holdout),
            **check,
        }
        print(json.dumps({"mode": mode, **{k: v for k, v in step.items() if k != "holdout_guard"}}), flush=True)
        steps.append(step)
    shutil.rmtree(snapshot, ignore_errors=True)
    return {"mode": mode, "steps": steps, "seconds": round(time.time() - started)}


def agreement_mode(base: Path, pool, port: int, size: int = 600) -> dict:
    """Labellers check each other: the pool as a batch day, `size` items queued; ana answers
    honestly, bo turns 30% of answers around (he gets the items that need a second labeller),
    cy, honest, gets the items they dispute. Then each one's kappa and whether their labels count."""
    from sentiops.text import dedup_key

    home = base.parent / f"{base.name}-agreement"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copytree(base / "data", home / "data")
    shutil.copytree(base / "registry", home / "registry")
    for part in (home / "data" / "feedback").glob("*.parquet"):
        part.unlink()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    day = home / "day.csv"
    with open(day, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(["text"])
        writer.writerows([t] for _, t in pool)
    sentiops(home, "batch", "run", "--input", str(day), "--date", today)
    sentiops(home, "label", "queue", "--since", today, "--size", str(size), "--seed", "1")
    answers = {dedup_key(t): y for y, t in pool}
    people = {"ana": 0.0, "bo": 0.3, "cy": 0.0}
    labelled = {}
    for name, flip in people.items():
        password = f"{name}-password-for-the-benchmark"
        add = [sys.executable, "-m", "sentiops.cli", "labellers", "add", name, "--password-stdin"]
        add += ["--file", str(home / "labellers")]
        subprocess.run(add, input=password + "\n", text=True, check=True, capture_output=True)
        labelled[name] = label_round(home, answers, port, (name, password), flip)
    report = sentiops(home, "labellers", "agreement")
    print(report, flush=True)
    return {"mode": "agreement", "queued": size, "labelled": labelled, "agreement": report.splitlines()}


def markdown(result: dict) -> str:
    lines = [
        f"# The 2016-17 scenario ({result['cpu']})",
        "",
        "Accuracy on tweeteval_2017_eval.csv (people's labels, never trained on or queued) and on the",
        "Sentiment140 holdout, after each round of labels; challenger = the model `retrain` made from",
        "them, production = what serves after the gate's decision; trained = people's labels / other",
        "new labels / replayed rows; the gate's interval is the paired 95% interval of the accuracy",
        "difference on its evidence.",
        "",
        "| mode | labels | trained | challenger 2017 eval | challenger holdout | gate | evidence (n) | interval"
        " | production 2017 eval | production holdout | realized / estimated |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    decisions = []
    for run in result["runs"]:
        for s in run["steps"]:
            real = s.get("realized_accuracy")
            est = s.get("estimated_accuracy")
            seen = f"{real:.4f} / {est:.4f}" if real == real and real is not None and est is not None else "–"
            if s["labels"] == 0:
                empty = " – |" * 6
                lines.append(f"| {run['mode']} | 0 |{empty} {s['eval_2017']:.4f} | {s['holdout']:.4f} | {seen} |")
                continue
            rows = s["rows"]
            trained = f"{rows.get('trusted_train', 0)} / {rows.get('untrusted_train', 0)} / {rows.get('replay', 0)}"
            low, high = s["gate_interval"]
            lines.append(
                f"| {run['mode']} | {s['labels']} | {trained} | {s['challenger_eval_2017']:.4f} "
                f"| {s['challenger_holdout']:.4f} | {s['action']} | {s['evidence']} ({s['gate_n']}) "
                f"| [{low:+.3f}, {high:+.3f}] | {s['eval_2017']:.4f} | {s['holdout']:.4f} | {seen} |"
            )
            decisions.append(f"- {run['mode']}, {s['labels']} labels: {s['action']}; " + "; ".join(s["reasons"]))
    lines += ["", "## The gate's decisions", "", *decisions]
    if "agreement" in result:
        found = result["agreement"]
        lines += ["", "## Labellers check each other", ""]
        lines += [f"{found['queued']} items queued; labelled by each: {found['labelled']}", ""]
        lines += [f"- {line}" for line in found["agreement"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--rounds", default="100,250,500,1000")
    parser.add_argument("--modes", default="queue,random,queue-emoticon,flipped,agreement")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    pool = read_labelled(SHARED / "tweeteval_2017_pool.csv")
    evaluation = read_labelled(SHARED / "tweeteval_2017_eval.csv")
    rounds = [int(r) for r in args.rounds.split(",")]
    result = {"cpu": cpu_model(), "rounds": rounds, "runs": []}
    modes = args.modes.split(",")
    previous = args.out / "labels.json"
    if previous.is_file():  # a rerun of some modes keeps the others' runs (with their CPU line)
        old = json.loads(previous.read_text())
        if old.get("rounds") == rounds:
            result["runs"] = [r for r in old["runs"] if r["mode"] not in modes]
            if "agreement" in old and "agreement" not in modes:
                result["agreement"] = old["agreement"]
    print(result["cpu"], flush=True)
    for mode in modes:
        if mode == "agreement":
            result["agreement"] = agreement_mode(args.home.resolve(), pool, args.port)
        else:
            result["runs"].append(run_mode(args.home.resolve(), mode, rounds, pool, evaluation, args.port))
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "labels.json").write_text(json.dumps(result, indent=2, default=str))
        (args.out / "labels.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
