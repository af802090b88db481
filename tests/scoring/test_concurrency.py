"""Exactly once under concurrency: a lock per date+shard, one model per date, settings pinned on
resume, pinned versions kept, and a failed drift step redone by a retry."""

from __future__ import annotations

import os
import shutil
import time

import pyarrow.parquet as pq
import pytest
from filelock import FileLock

from sentiops.exit_codes import ExitCode
from sentiops.pins import pinned_versions
from sentiops.registry import Registry
from sentiops.scoring import job, runs
from tests.helpers.cli import start_batch_run
from tests.helpers.data import sample_rows, write_csv
from tests.scoring.test_batch import settings_for

COLUMNS = ["row_id", "text", "label", "confidence", "model_version"]


@pytest.fixture
def env(tmp_path, registry_dir):
    return {
        **os.environ,
        "SENTIOPS_HOME": str(tmp_path / "home"),
        "SENTIOPS_REGISTRY_DIR": str(registry_dir),
        "SENTIOPS_BATCH_CHUNK_ROWS": "200",
        "SENTIOPS_BACKEND": "ort-int8",  # the clean run and the raced runs must use the same engine
    }


def test_two_runs_started_together_leave_exactly_one_clean_run(tmp_path, env):
    source = write_csv(tmp_path / "day.csv", sample_rows(2000))
    clean = start_batch_run(
        {**env, "SENTIOPS_RESULTS_DIR": str(tmp_path / "clean")}, "-i", str(source), "--date", "2026-07-01"
    )
    assert clean.wait(120) == 0
    args = ("-i", str(source), "--date", "2026-07-01", "--no-drift", "--wait-seconds", "120")
    first, second = start_batch_run(env, *args), start_batch_run(env, *args)
    outputs = [first.communicate(timeout=180)[0], second.communicate(timeout=180)[0]]
    assert (first.returncode, second.returncode) == (0, 0), outputs
    assert sum("already scored" in out for out in outputs) == 1
    results = tmp_path / "home" / "results"
    assert pq.read_table(results / "scores", columns=COLUMNS).to_pylist() == (
        pq.read_table(tmp_path / "clean" / "scores", columns=COLUMNS).to_pylist()
    )
    assert not list((results / ".work").glob("*/*"))


def test_a_second_run_exits_busy_or_waits_for_the_first(tmp_path, env):
    source = write_csv(tmp_path / "day.csv", sample_rows(300))
    lock = tmp_path / "home" / "results" / ".locks" / "date=2026-07-02" / "part-00000-of-00001.lock"
    lock.parent.mkdir(parents=True)
    with FileLock(str(lock)):
        busy = start_batch_run(env, "-i", str(source), "--date", "2026-07-02", "--no-drift")
        output = busy.communicate(timeout=60)[0]
        assert busy.returncode == ExitCode.BUSY, output
        assert "another run of 2026-07-02 part-00000-of-00001 is in progress" in output
        waiting = start_batch_run(env, "-i", str(source), "--date", "2026-07-02", "--no-drift", "--wait-seconds", "60")
        time.sleep(3)
        assert waiting.poll() is None  # still waiting for the lock
    assert waiting.wait(60) == 0, waiting.communicate()[0]
    assert pq.read_table(tmp_path / "home" / "results" / "scores").num_rows == 300


def test_every_shard_of_a_date_scores_with_the_version_the_first_one_pinned(tmp_path, registry_dir):
    registry = Registry(registry_dir)
    source = write_csv(tmp_path / "day.csv", sample_rows(600))
    settings = settings_for(tmp_path, registry_dir, batch_chunk_rows=100)
    job.run_batch(settings, runs.BatchOptions([source], "2026-07-03", runs.Shard(0, 2)))
    assert pinned_versions(settings.results) == {"1"}  # shard 1 of 2 still to come
    shutil.copytree(registry.path("1"), registry.versions_dir / "9")
    registry.set_alias("production", "9", reason="manual promote")
    job.run_batch(settings, runs.BatchOptions([source], "2026-07-03", runs.Shard(1, 2)))
    versions = set(pq.read_table(settings.results / "scores" / "date=2026-07-03").column("model_version").to_pylist())
    assert versions == {"1"}
    assert pinned_versions(settings.results) == set()  # the date is complete
    job.run_batch(settings, runs.BatchOptions([source], "2026-07-04"))
    assert set(pq.read_table(settings.results / "scores" / "date=2026-07-04").column("model_version").to_pylist()) == {
        "9"
    }


def test_a_resume_with_other_chunking_is_refused(tmp_path, registry_dir, monkeypatch):
    source = write_csv(tmp_path / "day.csv", sample_rows(500))
    settings = settings_for(tmp_path, registry_dir, batch_chunk_rows=100)

    def crash(files, schema):
        raise RuntimeError("killed before publishing")

    monkeypatch.setattr(job, "_publish", crash)
    with pytest.raises(RuntimeError):
        job.run_batch(settings, runs.BatchOptions([source], "2026-07-05"))
    assert pinned_versions(settings.results) == {"1"}  # the unfinished run pins its version
    monkeypatch.undo()
    other = settings.model_copy(update={"batch_chunk_rows": 64})
    with pytest.raises(job.RunSettingsChanged, match="chunk_rows"):
        job.run_batch(other, runs.BatchOptions([source], "2026-07-05"))
    result = job.run_batch(settings, runs.BatchOptions([source], "2026-07-05"))
    assert result.manifest["chunks_resumed"] == 5 and result.manifest["chunk_rows"] == 100


def test_every_shard_and_retry_of_a_date_uses_the_engine_the_first_run_chose(tmp_path, registry_dir):
    source = write_csv(tmp_path / "day.csv", sample_rows(400))
    settings = settings_for(tmp_path, registry_dir, batch_chunk_rows=100, backend="auto")
    first = job.run_batch(settings, runs.BatchOptions([source], "2026-07-06", runs.Shard(0, 2)))
    chosen = first.manifest["backend"]
    assert first.manifest["backend_choice"]["mode"] == "auto"
    second = job.run_batch(settings, runs.BatchOptions([source], "2026-07-06", runs.Shard(1, 2)))
    assert second.manifest["backend"] == chosen
    assert second.manifest["backend_choice"]["mode"] == "named"  # taken from the date's pin, not re-timed
