"""A full disk (ENOSPC injected into the writers) while writing scores, a version or the drift
history: a clear error, and what was published before is untouched."""

from __future__ import annotations

import errno
import os

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sentiops.cli import app
from sentiops.monitoring.check import run_drift_check
from sentiops.registry import Registry
from sentiops.scoring import job, runs
from tests.helpers.data import sample_rows, write_csv
from tests.scoring.test_batch import settings_for


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "scores.parquet")


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_full_disk_while_publishing_scores_keeps_the_last_good_results(tmp_path, registry_dir, monkeypatch):
    source = write_csv(tmp_path / "day.csv", sample_rows(300))
    settings = settings_for(tmp_path, registry_dir)
    job.run_batch(settings, runs.BatchOptions([source], "2026-10-01"))
    before = _snapshot(settings.results / "scores")
    manifest = (settings.results / "runs" / "date=2026-10-01" / "part-00000-of-00001.json").read_text()

    monkeypatch.setattr(job.pq.ParquetWriter, "write_table", _disk_full)
    with pytest.raises(OSError, match="No space left"):
        job.run_batch(settings, runs.BatchOptions([source], "2026-10-01", force=True))
    assert _snapshot(settings.results / "scores") == before  # no temp file, no half file
    assert (settings.results / "runs" / "date=2026-10-01" / "part-00000-of-00001.json").read_text() == manifest


def test_the_cli_says_what_failed_and_that_nothing_published_changed(tmp_path, registry_dir, monkeypatch):
    source = write_csv(tmp_path / "day.csv", sample_rows(100))
    monkeypatch.setenv("SENTIOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SENTIOPS_REGISTRY_DIR", str(registry_dir))
    from sentiops.config import get_settings

    get_settings.cache_clear()
    monkeypatch.setattr(job.pq.ParquetWriter, "write_table", _disk_full)
    result = CliRunner().invoke(app, ["batch", "run", "--input", str(source), "--date", "2026-10-02"])
    get_settings.cache_clear()
    assert result.exit_code == 1
    assert "No space left on device" in result.output and "untouched" in result.output
    assert "Traceback" not in result.output


def test_a_full_disk_while_writing_a_version_leaves_no_version(tmp_path):
    registry = Registry(tmp_path)
    with registry.new_version() as pending:
        (pending.path / "weights.bin").write_text("v1")
    with pytest.raises(OSError), registry.new_version() as pending:
        (pending.path / "weights.bin").write_text("v2")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert registry.versions() == ["1"]
    assert [p.name for p in registry.versions_dir.iterdir()] == ["1"]


def test_a_full_disk_while_writing_drift_history_keeps_the_old_history(tmp_path, registry_dir, monkeypatch):
    settings = settings_for(tmp_path, registry_dir)
    for date in ("2026-10-03", "2026-10-04"):
        job.run_batch(settings, runs.BatchOptions([write_csv(tmp_path / f"{date}.csv", sample_rows(200))], date))
    run_drift_check(settings, "2026-10-03", notify=False)
    history = settings.results / "drift" / "history.parquet"
    before = history.read_bytes()

    real = pq.write_table

    def full_for_history(table, where, *args, **kwargs):
        if "history" in str(where):
            _disk_full()
        return real(table, where, *args, **kwargs)

    monkeypatch.setattr(pq, "write_table", full_for_history)
    with pytest.raises(OSError):
        run_drift_check(settings, "2026-10-04", notify=False)
    assert history.read_bytes() == before
    assert [p.name for p in history.parent.glob(".history*tmp")] == []


def test_two_writers_of_one_file_in_one_process_never_share_a_temp_file(tmp_path):
    # Containers run every process as PID 1: a temp name made of the PID alone is shared.
    from sentiops.files import replaced_atomically

    target = tmp_path / "report.html"
    with replaced_atomically(target) as outer:
        outer.write_text("outer")
        with replaced_atomically(target) as inner:
            assert inner != outer
            inner.write_text("inner")
        assert outer.read_text() == "outer"
    assert target.read_text() == "outer"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
