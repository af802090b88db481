"""Long commands print a short summary (or JSON), not the libraries' chatter, unless --verbose."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers.data import REPO, sample_rows, write_csv


def _sentiops(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sentiops.cli", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=600
    )


def test_train_is_quiet_by_default_and_verbose_on_request(tmp_path, prepared_data, tiny_base_model):
    env = {**os.environ, "SENTIOPS_HOME": str(tmp_path / "home"), "SENTIOPS_DATA_DIR": str(prepared_data)}
    args = ["train", "--base-model", str(tiny_base_model), "--max-examples", "200", "--max-length", "32"]
    quiet = _sentiops(env, *args)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip().startswith("registered version 1:") and len(quiet.stdout.strip().splitlines()) == 1
    assert "'loss'" not in quiet.stdout + quiet.stderr and "LOAD REPORT" not in quiet.stdout + quiet.stderr
    verbose = _sentiops(env, *args, "--verbose", "--json")
    assert verbose.returncode == 0, verbose.stderr
    assert "'loss'" in verbose.stdout + verbose.stderr  # the Trainer's own per-step logs are back
    summary = json.loads(verbose.stdout[verbose.stdout.index("{\n") :])
    assert summary["version"] == "2" and "holdout" in summary["metrics"]


def test_prepare_and_batch_run_give_json_summaries(tmp_path, registry_dir):
    env = {**os.environ, "SENTIOPS_HOME": str(tmp_path / "home"), "SENTIOPS_REGISTRY_DIR": str(registry_dir)}
    source = write_csv(tmp_path / "tweets.csv", sample_rows(400))
    prepared = _sentiops(env, "data", "prepare", "--input", str(source), "--json")
    assert prepared.returncode == 0, prepared.stderr
    assert json.loads(prepared.stdout)["rows_usable"] > 300
    scored = _sentiops(env, "batch", "run", "--input", str(source), "--date", "2026-11-01", "--no-drift", "--json")
    assert scored.returncode == 0, scored.stderr
    result = json.loads(scored.stdout)
    assert result["status"] == "scored" and result["rows_scored"] + result["rows_rejected"] == 400
