"""The retraining loop with the tiny model: decisions, poisoned data, kills, locks, into service."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from filelock import FileLock

from sentiops.config import Settings
from sentiops.registry import Registry
from sentiops.serving.app import create_app
from sentiops.training.retrain import RetrainError, RetrainOptions, retrain
from tests.helpers.data import REPO
from tests.helpers.serving import live_server

TINY = RetrainOptions(max_examples=1200, epochs=2, batch_size=32, learning_rate=3e-3, seed=3)
RELAXED = {
    "retrain_margin": 1.0,
    "retrain_min_gain": -1.0,
    "retrain_behaviour_tolerance": 1.0,
    "retrain_min_agreement": 0.0,
}


@pytest.fixture
def volume(tmp_path, prepared_data, registry_dir):
    data = tmp_path / "data"
    shutil.copytree(prepared_data, data)
    return data


def _settings(tmp_path, data, registry_dir, **extra) -> Settings:
    return Settings(home=tmp_path / "home", data_dir=data, registry_dir=registry_dir, **extra)


def _rewrite_feedback(data, change) -> None:
    for path in sorted((data / "feedback").glob("*.parquet")):
        table = pq.read_table(path)
        pq.write_table(change(table), path)


def test_retrain_records_version_lineage_and_decision(tmp_path, volume, registry):
    settings = _settings(tmp_path, volume, registry.root, **RELAXED)
    decision = retrain(settings, TINY)
    assert decision.champion == "1" and decision.challenger == "2"
    assert decision.action == "promoted"
    logged = registry.decisions()[-1]
    assert logged["challenger"] == "2" and logged["reasons"]
    for side in ("challenger", "champion"):
        assert 0 <= logged["numbers"][side]["holdout"]["accuracy"] <= 1
        assert 0 <= logged["numbers"][side]["newest"]["accuracy"] <= 1
    assert logged["numbers"]["behaviour"]["challenger"]["invariance_case"]["tested"] > 0
    assert logged["numbers"]["paired"]["n"] > 0 and len(logged["numbers"]["paired"]["interval"]) == 2
    training = registry.training("2")
    assert training.parent_version == "1"
    assert training.data.feedback_files[0].sha256
    assert registry.aliases()["production"] == "2"
    # feedback that production (or its ancestors) trained on is not used again
    with pytest.raises(RetrainError, match="no new labelled feedback"):
        retrain(settings, TINY)


def test_poisoned_labels_are_refused(tmp_path, volume, registry):
    _rewrite_feedback(volume, lambda t: t.set_column(2, "label", pc.subtract(pa.scalar(1, pa.int8()), t["label"])))
    settings = _settings(tmp_path, volume, registry.root, retrain_replay_share=0.0)
    decision = retrain(settings, TINY)
    assert decision.action == "rejected"
    assert any("worse than the champion where the labels are trusted" in r for r in decision.reasons), decision.reasons
    assert registry.aliases()["production"] == "1"
    assert registry.decisions()[-1]["action"] == "rejected"


def test_one_class_feedback_stops_before_training(tmp_path, volume, registry):
    _rewrite_feedback(volume, lambda t: t.set_column(2, "label", pa.array([1] * t.num_rows, pa.int8())))
    with pytest.raises(RetrainError, match="one class"):
        retrain(_settings(tmp_path, volume, registry.root), TINY)
    assert registry.versions() == ["1"]


def test_second_retrain_is_refused_while_one_runs(tmp_path, volume, registry):
    with FileLock(str(registry.root / ".retrain.lock")), pytest.raises(RetrainError, match="another retrain"):
        retrain(_settings(tmp_path, volume, registry.root), TINY)


def test_killed_retrain_leaves_registry_as_it_was(tmp_path, volume, registry):
    before = (registry.versions(), registry.aliases(), registry.decisions())
    env = {
        **os.environ,
        "SENTIOPS_HOME": str(tmp_path / "home"),
        "SENTIOPS_DATA_DIR": str(volume),
        "SENTIOPS_REGISTRY_DIR": str(registry.root),
    }
    command = [
        sys.executable,
        "-m",
        "sentiops.cli",
        "retrain",
        "--max-examples",
        "1200",
        "--epochs",
        "2",
        "--learning-rate",
        "3e-3",
    ]
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(registry.versions_dir.glob(".tmp-*")):
        time.sleep(0.005)
    assert list(registry.versions_dir.glob(".tmp-*")), "the kill must land while the version is being written"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (registry.versions(), registry.aliases(), registry.decisions()) == before
    assert Registry(registry.root).resolve() == "1"
    # the lock died with the process: a new retrain may start
    with FileLock(str(registry.root / ".retrain.lock"), timeout=0):
        pass


def test_loop_end_to_end_serve_retrain_promote_rollback(tmp_path, volume, registry):
    settings = _settings(tmp_path, volume, registry.root, reload_poll_seconds=0.1, **RELAXED)
    with live_server(create_app(settings)) as base, httpx.Client(base_url=base) as http:
        assert http.post("/predict", json={"text": "good morning"}).json()["model_version"] == "1"
        decision = retrain(settings, TINY)
        assert decision.action == "promoted"
        _wait_version(http, "2")
        env = {**os.environ, "SENTIOPS_REGISTRY_DIR": str(registry.root), "SENTIOPS_HOME": str(tmp_path / "home")}
        done = subprocess.run(
            [sys.executable, "-m", "sentiops.cli", "models", "rollback"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0 and "production: 2 -> 1" in done.stdout
        _wait_version(http, "1")
    assert json.loads(registry.aliases_path.read_text())["production"] == "1"


def _wait_version(http: httpx.Client, version: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if http.post("/predict", json={"text": "is it there yet"}).json()["model_version"] == version:
            return
        time.sleep(0.05)
    raise AssertionError(f"the API never served version {version}")


def test_a_challenger_is_staged_not_promoted_when_production_moved_during_the_retrain(
    tmp_path, volume, registry, monkeypatch
):
    import sentiops.training.retrain as retrain_module

    shutil.copytree(registry.path("1"), registry.versions_dir / "9")  # another valid version
    real_gate = retrain_module.gate

    def gate_after_a_manual_promotion(settings, reg, champion, *args, **kwargs):
        reg.set_alias("production", "9", reason="manual promote")
        return real_gate(settings, reg, champion, *args, **kwargs)

    monkeypatch.setattr(retrain_module, "gate", gate_after_a_manual_promotion)
    decision = retrain(_settings(tmp_path, volume, registry.root, **RELAXED), TINY)
    assert decision.action == "staged"
    assert any("no longer 1" in reason for reason in decision.reasons)
    assert registry.aliases() == {"production": "9", "staging": decision.challenger}


def test_a_challenger_no_better_than_the_champion_is_not_promoted(tmp_path, volume, registry):
    # The same weights under a new number: every paired difference is zero, the point estimate
    # is not above the required gain, and production stays where it was.
    from sentiops.data.store import read_split
    from sentiops.training.gate import gate
    from tests.helpers.serving import clone_version

    twin = clone_version(registry, "1")
    holdout = read_split(volume, "holdout")
    rows = (holdout.column("text").to_pylist(), holdout.column("label").to_numpy())
    settings = _settings(tmp_path, volume, registry.root)
    assert settings.backend == "auto"  # where each load may pick another engine by timing
    decision = gate(settings, registry, "1", twin, rows, rows, "auto")
    assert decision.numbers["backend"] == "ort-fp32"  # so both sides run on the reference engine
    assert decision.action == "rejected"
    assert list(decision.numbers["paired"]["interval"]) == [0.0, 0.0]
    assert any("is not above" in reason for reason in decision.reasons)
    assert registry.aliases()["production"] == "1"


def test_retrain_refuses_a_champion_whose_weights_changed(tmp_path, volume, registry_dir):
    from sentiops.registry import ChecksumError

    weights = next((registry_dir / "versions" / "1" / "hf").glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    settings = _settings(tmp_path, volume, registry_dir)
    with pytest.raises(ChecksumError, match="safetensors"):
        retrain(settings, TINY)
    assert Registry(registry_dir).versions() == ["1"]  # nothing trained, nothing published
