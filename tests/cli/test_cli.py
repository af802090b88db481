"""The Typer commands, run in-process against a real registry and real files."""

import json

import pytest
from typer.testing import CliRunner

from sentiops.cli import app
from sentiops.config import get_settings
from tests.helpers.data import distinct_rows, sample_rows, write_csv


@pytest.fixture
def cli_env(monkeypatch, tmp_path, registry_dir):
    monkeypatch.setenv("SENTIOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SENTIOPS_REGISTRY_DIR", str(registry_dir))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_data_prepare_reports_counts(cli_env):
    source = write_csv(cli_env / "in.csv", distinct_rows(sample_rows(320))[:300] + [("9", "bad label")])
    result = run("data", "prepare", "--input", str(source))
    assert result.exit_code == 0, result.output
    assert "usable 300 rows" in result.output and "'rejected': 1" in result.output
    assert (cli_env / "home" / "data" / "manifest.json").is_file()


def test_data_prepare_missing_input_is_a_clear_error(cli_env):
    result = run("data", "prepare", "--input", str(cli_env / "nope.csv"))
    assert result.exit_code == 1
    assert "no readable input" in result.output


def test_predict_evaluate_and_models(cli_env):
    result = run("predict", "what a lovely day", "so sad today")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [line["model_version"] for line in lines] == ["1", "1"]

    labelled = write_csv(cli_env / "eval.csv", sample_rows(100), header=("label", "text"))
    result = run("evaluate", "--data", str(labelled), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 100 and report["version"] == "1"

    result = run("models", "list")
    assert "production" in result.output
    result = run("models", "show", "1")
    assert json.loads(result.output[result.output.index("{") :])["checksums"] == "ok"
    assert run("models", "rollback").exit_code == 1  # only one production so far
    assert run("models", "promote", "7").exit_code == 1


def _corrupt_parquet(path):
    """A Parquet file cut short: its magic bytes and footer are gone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["good tweet"] * 50}), path)
    path.write_bytes(path.read_bytes()[:-40])
    return path


def test_a_corrupt_input_file_is_a_failure_naming_the_file_not_a_usage_error(cli_env):
    broken = _corrupt_parquet(cli_env / "day.parquet")
    result = run("batch", "run", "--input", str(broken), "--date", "2026-11-02", "--no-drift")
    assert result.exit_code == 1, result.output
    assert "day.parquet: corrupt or unreadable file" in result.output
    assert not list((cli_env / "home" / "results" / "runs").glob("date=2026-11-02/part-*.json"))


def test_a_corrupt_scores_file_fails_the_drift_check_with_exit_1(cli_env):
    folder = cli_env / "home" / "results" / "scores" / "date=2026-11-03"
    folder.mkdir(parents=True)
    _corrupt_parquet(folder / "part-00000-of-00001.parquet")
    result = run("drift", "check", "--results", "2026-11-03", "--no-notify")
    assert result.exit_code == 1, result.output
    assert "corrupt or unreadable file" in result.output


def test_the_daily_batch_run_prunes_the_prediction_log(cli_env):
    results = cli_env / "home" / "results"
    for day in ("2020-01-01", "2099-01-01"):
        folder = results / "predictions" / f"date={day}" / "hour=00"
        folder.mkdir(parents=True)
        (folder / "x.parquet").write_bytes(b"")
    source = write_csv(cli_env / "day.csv", sample_rows(150))
    result = run("batch", "run", "--input", str(source), "--date", "2026-11-05", "--no-drift", "--prune-predictions")
    assert result.exit_code == 0, result.output
    assert "removed 1 days" in result.output
    assert sorted(p.name for p in (results / "predictions").iterdir()) == ["date=2099-01-01"]


def test_batch_run_without_input_scores_yesterdays_dated_folder(cli_env, monkeypatch):
    import datetime as dt

    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    folder = cli_env / "input" / f"date={yesterday}"
    folder.mkdir(parents=True)
    write_csv(folder / "tweets.csv", sample_rows(120))
    monkeypatch.setenv("SENTIOPS_BATCH_INPUT", str(cli_env / "input" / "date={date}"))
    monkeypatch.setenv("SENTIOPS_BATCH_DATE", "yesterday")
    get_settings.cache_clear()
    result = run("batch", "run", "--no-drift")
    assert result.exit_code == 0, result.output
    assert f"{yesterday} part-00000-of-00001: read 120" in result.output
    assert (cli_env / "home" / "results" / "scores" / f"date={yesterday}").is_dir()
