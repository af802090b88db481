"""Retraining recipes on the first N people's labels of a `labels_bench.py` run, chosen on the
trusted held-back labels (validation), reported on tweeteval_2017_eval.csv beside them.

    python benchmarks/labels_recipe.py --run var/labels-bench-queue --base var/labels-bench --labels 500

Each recipe retrains the base home's production model on the same labels (the Label page's parts
of the run, oldest first, up to --labels); nothing here trains or chooses on the eval file.
Results: benchmarks/results/labels_recipes.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model  # noqa: E402
from labels_bench import SHARED, accuracy, holdout_rows, read_labelled  # noqa: E402

RECIPES = {  # name: (retrain options, settings)
    "default (1 epoch, replay 0.5)": ([], {}),
    "2 epochs": (["--epochs", "2"], {}),
    "3 epochs": (["--epochs", "3"], {}),
    "2 epochs, replay 0.25": (["--epochs", "2"], {"SENTIOPS_RETRAIN_REPLAY_SHARE": "0.25"}),
}


def home_with_labels(run: Path, base: Path, n: int) -> Path:
    import pyarrow.parquet as pq

    home = Path(tempfile.mkdtemp(prefix="labels-recipe-"))
    shutil.copytree(run / "data", home / "data")
    shutil.copytree(base / "registry", home / "registry")
    kept = 0
    for part in sorted((home / "data" / "feedback").glob("ui-*.parquet")):
        if kept >= n:
            part.unlink()
        else:
            kept += pq.read_metadata(part).num_rows
    return home


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--labels", type=int, default=500)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "labels_recipes.json")
    parser.add_argument("--only", help="run only the recipes whose name contains this")
    args = parser.parse_args()
    from sentiops.config import Settings
    from sentiops.data.feedback_reader import current_labels
    from sentiops.data.trusted import trusted_eval

    evaluation = read_labelled(SHARED / "tweeteval_2017_eval.csv")
    results = {"cpu": cpu_model(), "labels": args.labels, "recipes": []}
    for name, (options, extra) in RECIPES.items():
        if args.only and args.only not in name:
            continue
        home = home_with_labels(args.run, args.base, args.labels)
        settings = Settings(home=home)
        held = trusted_eval(current_labels(settings.data), settings.retrain_trusted_share)
        validation = list(zip(held.column("label").to_pylist(), held.column("text").to_pylist(), strict=True))
        env = {**os.environ, "SENTIOPS_HOME": str(home), **extra}
        done = subprocess.run(
            [sys.executable, "-m", "sentiops.cli", "retrain", "--json", *options],
            env=env,
            capture_output=True,
            text=True,
        )
        if "{" not in done.stdout:
            raise RuntimeError(f"retrain ({name}) exited {done.returncode}: {done.stderr[-2000:]}")
        decision = json.loads(done.stdout[done.stdout.index("{") :])
        version = decision["challenger"]
        row = {
            "recipe": name,
            "trained_on": decision["numbers"]["data"],
            "validation_people": accuracy(home, version, validation),
            "validation_n": len(validation),
            "eval_2017": accuracy(home, version, evaluation),
            "holdout": accuracy(home, version, holdout_rows(home)),
        }
        print(json.dumps(row), flush=True)
        results["recipes"].append(row)
        shutil.rmtree(home, ignore_errors=True)
    best = max(results["recipes"], key=lambda r: r["validation_people"])
    results["chosen_on_validation"] = best["recipe"]
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps({"chosen_on_validation": best["recipe"], "eval_2017": best["eval_2017"]}))


if __name__ == "__main__":
    main()
