"""The batch scoring job: formats, sharding, idempotency, SIGKILL resume, rejects, simulation."""

from __future__ import annotations

import gzip
import json
import os
import signal
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sentiops.config import Settings
from sentiops.exit_codes import ExitCode
from sentiops.scoring import job, runs
from sentiops.volume import DateFiles
from tests.helpers.cli import start_batch_run
from tests.helpers.data import sample_rows, write_csv


def settings_for(tmp_path, registry_dir, **overrides) -> Settings:
    # One fixed engine: tests compare scores across separate runs, and `auto` may time engines
    # differently in each (tests/test_engines.py and the concurrency tests cover `auto`).
    values = {
        "home": tmp_path / "home",
        "registry_dir": registry_dir,
        "results_dir": tmp_path / "results",
        "backend": "ort-int8",
    }
    values.update(overrides)
    return Settings(**values)


def scores(settings: Settings, date: str) -> pa.Table:
    return pq.read_table(settings.results / "scores" / f"date={date}")


def test_headed_csv_scores_every_row(tmp_path, registry_dir):
    source = write_csv(tmp_path / "day.csv", sample_rows(300))
    settings = settings_for(tmp_path, registry_dir, batch_chunk_rows=64)
    result = job.run_batch(settings, runs.BatchOptions([source], "2026-11-27"))
    assert result.status == "scored" and result.exit_code == 0
    table = pq.read_table(settings.results / "scores" / "date=2026-11-27" / "part-00000-of-00001.parquet")
    assert table.num_rows == 300
    assert table.column("row_id").to_pylist()[:2] == ["day.csv:1", "day.csv:2"]
    assert set(table.column("label").to_pylist()) <= {"negative", "positive"}
    assert set(table.column("model_version").to_pylist()) == {"1"}
    manifest = json.loads((settings.results / "runs" / "date=2026-11-27" / "part-00000-of-00001.json").read_text())
    assert manifest["rows_read"] == manifest["rows_scored"] == 300
    assert manifest["inputs"][0]["sha256"]
    assert not (settings.results / ".work" / "date=2026-11-27" / "part-00000-of-00001").exists()


def test_official_layout_jsonl_and_parquet(tmp_path, registry_dir):
    folder = tmp_path / "in"
    folder.mkdir()
    official = b'"4","101","Mon May 11 03:17:40 UTC 2009","q","u","caf\xe9 is great"\n'
    official += b'"0","102","Mon May 11 03:17:40 UTC 2009","q","u","so sad today"\n'
    (folder / "a.csv").write_bytes(official)
    with gzip.open(folder / "b.jsonl.gz", "wt") as handle:
        handle.write(json.dumps({"id": "j1", "text": "hello there"}) + "\n{broken\n")
    pq.write_table(pa.table({"tweet_id": ["p1"], "text": ["parquet tweet"]}), folder / "c.parquet")
    settings = settings_for(tmp_path, registry_dir)
    result = job.run_batch(settings, runs.BatchOptions([folder], "2026-01-02"))
    table = scores(settings, "2026-01-02")
    assert sorted(table.column("row_id").to_pylist()) == ["101", "102", "j1", "p1"]
    assert "café is great" in table.column("text").to_pylist()
    rejects = pq.read_table(settings.results / "rejects" / "date=2026-01-02").to_pylist()
    assert [(r["row_id"], r["reason"][:14]) for r in rejects] == [("b.jsonl.gz:2", "malformed JSON")]
    assert result.manifest["rows_rejected"] == 1


def test_rerun_is_a_noop_and_force_replaces(tmp_path, registry_dir):
    source = write_csv(tmp_path / "day.csv", sample_rows(50))
    settings = settings_for(tmp_path, registry_dir)
    job.run_batch(settings, runs.BatchOptions([source], "2026-02-01"))
    part = settings.results / "scores" / "date=2026-02-01" / "part-00000-of-00001.parquet"
    before = part.stat().st_mtime_ns
    assert job.run_batch(settings, runs.BatchOptions([source], "2026-02-01")).status == "skipped"
    assert part.stat().st_mtime_ns == before
    forced = job.run_batch(settings, runs.BatchOptions([source], "2026-02-01", force=True))
    assert forced.status == "scored" and part.stat().st_mtime_ns != before
    assert pq.read_table(part).num_rows == 50


def test_shards_score_every_row_exactly_once(tmp_path, registry_dir):
    source = write_csv(tmp_path / "day.csv", sample_rows(700))
    single = settings_for(tmp_path / "single", registry_dir, batch_chunk_rows=50)
    job.run_batch(single, runs.BatchOptions([source], "2026-03-01"))
    sharded = settings_for(tmp_path / "sharded", registry_dir, batch_chunk_rows=50)
    for i in range(3):
        job.run_batch(sharded, runs.BatchOptions([source], "2026-03-01", runs.Shard(i, 3)))
    assert DateFiles(sharded.results, "2026-03-01").shards_done(3)
    one = scores(single, "2026-03-01").sort_by("row_id")
    many = scores(sharded, "2026-03-01").sort_by("row_id")
    ids = many.column("row_id").to_pylist()
    assert len(ids) == len(set(ids)) == 700
    assert ids == one.column("row_id").to_pylist()
    assert many.column("confidence").to_pylist() == one.column("confidence").to_pylist()


def test_shard_from_indexed_job_env(monkeypatch):
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    monkeypatch.setenv("SENTIOPS_SHARD_COUNT", "4")
    from_env = Settings()
    assert runs.Shard.parse(None, from_env.job_completion_index, from_env.shard_count) == runs.Shard(2, 4)
    assert runs.Shard.parse(None) == runs.Shard(0, 1)
    assert runs.Shard.parse("1/3") == runs.Shard(1, 3)
    for bad in ("3/3", "x", "1/0"):
        with pytest.raises(ValueError):
            runs.Shard.parse(bad)


def test_rejects_and_threshold(tmp_path, registry_dir):
    rows = [("0", "fine tweet")] * 8 + [("0", " "), ("4", "x" * 1001)]
    source = write_csv(tmp_path / "day.csv", rows)
    settings = settings_for(tmp_path, registry_dir)
    result = job.run_batch(settings, runs.BatchOptions([source], "2026-04-01", max_reject_share=0.1))
    assert result.exit_code == ExitCode.TOO_MANY_REJECTS
    assert scores(settings, "2026-04-01").num_rows == 8  # results kept
    reasons = sorted(r["reason"] for r in pq.read_table(settings.results / "rejects").to_pylist())
    assert reasons == ["empty text", "text too long (1001 > 1000 characters)"]
    ok = job.run_batch(settings, runs.BatchOptions([source], "2026-04-02", max_reject_share=0.25))
    assert ok.exit_code == ExitCode.OK


def test_simulate_walks_the_incoming_pool(tmp_path, prepared_data):
    settings = Settings(home=tmp_path, data_dir=prepared_data, results_dir=tmp_path / "results")
    first = runs.next_simulated_day(settings, "2026-05-01")
    second = runs.next_simulated_day(settings, "2026-05-02")
    assert first.tweets.name == "day-0001.parquet" and second.tweets.name == "day-0002.parquet"
    assert first.labels == prepared_data / "incoming" / "labels" / "day-0001.parquet"
    assert runs.next_simulated_day(settings, "2026-05-01") == first


def test_sigkill_mid_run_then_resume_matches_clean_run(tmp_path, registry_dir):
    source = write_csv(tmp_path / "day.csv", sample_rows(3000))
    base_env = {
        **os.environ,
        "SENTIOPS_REGISTRY_DIR": str(registry_dir),
        "SENTIOPS_BATCH_CHUNK_ROWS": "100",
        "SENTIOPS_HOME": str(tmp_path / "home"),
        "SENTIOPS_BACKEND": "ort-int8",  # the clean run and the resumed one must use the same engine
    }
    clean_env = {**base_env, "SENTIOPS_RESULTS_DIR": str(tmp_path / "clean")}
    assert start_batch_run(clean_env, "--input", str(source), "--date", "2026-06-01", "--no-drift").wait(120) == 0

    env = {**base_env, "SENTIOPS_RESULTS_DIR": str(tmp_path / "killed")}
    work = tmp_path / "killed" / ".work" / "date=2026-06-01" / "part-00000-of-00001"
    process = start_batch_run(env, "--input", str(source), "--date", "2026-06-01", "--no-drift")
    deadline = time.time() + 60
    while time.time() < deadline and len(list(work.glob("chunk-*.parquet"))) < 3:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list(work.glob("chunk-*.parquet")))
    assert 3 <= done_before < 30, "the kill must land mid-run"
    assert not list((tmp_path / "killed" / "runs").glob("*/part-*.json"))  # no success marker

    resumed = start_batch_run(env, "--input", str(source), "--date", "2026-06-01", "--no-drift")
    output = resumed.communicate(timeout=120)[0]
    assert resumed.returncode == 0, output
    assert f"{done_before} of 30 chunks resumed" in output

    columns = ["row_id", "text", "label", "confidence", "score_positive", "model_version"]
    clean = pq.read_table(tmp_path / "clean" / "scores", columns=columns).to_pylist()
    killed = pq.read_table(tmp_path / "killed" / "scores", columns=columns).to_pylist()
    assert killed == clean


def test_bad_unicode_rows_become_rejects_and_the_rest_is_scored(tmp_path, registry_dir):
    source = tmp_path / "day.jsonl"
    good = [json.dumps({"id": f"g{i}", "text": text}) for i, (_, text) in enumerate(sample_rows(40))]
    bad = ['{"id": "s", "text": "x \\ud800 y"}', '{"id": "n", "text": "a\\u0000b"}', '{"id": "z", "text": "\\u200b"}']
    source.write_text("\n".join(good[:20] + bad + good[20:]) + "\n", encoding="utf-8")
    settings = settings_for(tmp_path, registry_dir, batch_chunk_rows=16)
    result = job.run_batch(settings, runs.BatchOptions([source], "2026-06-01", max_reject_share=0.5))
    assert result.exit_code == ExitCode.OK
    assert scores(settings, "2026-06-01").num_rows == 40
    rejects = pq.read_table(settings.results / "rejects" / "date=2026-06-01").to_pylist()
    assert {r["row_id"]: r["reason"].split(" (")[0] for r in rejects} == {
        "s": "invalid Unicode",
        "n": "contains a NUL character",
        "z": "no visible characters",
    }


def test_a_three_class_version_scores_neutral_and_its_drift_check_follows_its_classes(tmp_path, three_class_home):
    import shutil

    from tests.helpers.neutral import NEUTRAL

    root, _ = three_class_home
    shutil.copytree(root / "registry", tmp_path / "registry")
    rows = sample_rows(200) + [("2", text) for text in NEUTRAL[400:]]
    source = write_csv(tmp_path / "day.csv", rows)
    settings = settings_for(tmp_path, tmp_path / "registry")
    result = job.run_batch(settings, runs.BatchOptions([source], "2026-11-28", drift=True))
    assert result.status == "scored"
    table = scores(settings, "2026-11-28")
    assert {"score_negative", "score_positive", "score_neutral"} <= set(table.column_names)
    assert "neutral" in set(table.column("label").to_pylist())
    step = result.drift_step
    assert step is not None and step["status"] == "done", step
    report = json.loads(DateFiles(settings.results, "2026-11-28").drift_json.read_text())
    [check] = [c for c in report["checks"] if c["name"] == "prediction_drift"]
    shares = check["numbers"]["batch_shares"]
    assert set(shares) == {"negative", "positive", "neutral"} and shares["neutral"] > 0.2
