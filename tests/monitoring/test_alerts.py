"""Alerts against a real local HTTP server standing in for Slack and a JSON webhook."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from sentiops.config import Settings
from sentiops.exit_codes import ExitCode
from sentiops.monitoring.alerts import Notifier, remember_alert, should_alert
from sentiops.monitoring.check import run_drift_check
from sentiops.scoring import job, runs
from tests.helpers.data import REPO, write_csv
from tests.helpers.webhook_server import webhook_server

FOREIGN = [("0", f"𓀀𓀁 𓂀 ꙮ {i} ꙮ𓃰") for i in range(300)]  # text the model has no words for


def _settings(tmp_path, registry_dir, **extra) -> Settings:
    return Settings(
        home=tmp_path / "home", registry_dir=registry_dir, results_dir=tmp_path / "results", alert_retries=2, **extra
    )


def _score(settings: Settings, tmp_path, date: str = "2026-07-01") -> str:
    source = write_csv(tmp_path / "foreign.csv", FOREIGN)
    job.run_batch(settings, runs.BatchOptions([source], date))
    return date


def test_slack_payload_and_url_never_leaks(tmp_path, registry_dir, caplog):
    caplog.set_level(logging.DEBUG)
    with webhook_server([200]) as (url, slack):
        settings = _settings(tmp_path, registry_dir, slack_webhook_url=url)
        outcome = run_drift_check(settings, _score(settings, tmp_path), notifier=Notifier(settings, 0.01))
    assert outcome.report.status == "drift"
    assert [d.delivered for d in outcome.deliveries] == [True]
    assert len(slack.requests) == 1
    text = slack.requests[0]["body"]["text"]
    assert "batch 2026-07-01" in text and "model version 1" in text
    assert "input_drift: drift" in text and "unknown-token share" in text
    assert outcome.paths["report"] in text
    # the secret URL is nowhere: logs, drift JSON, alert log, report
    assert "SECRET-hook-token" not in caplog.text
    for path in (tmp_path / "results").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".html"):
            assert "SECRET-hook-token" not in path.read_text(), path


def test_retry_after_500_then_delivered(tmp_path, registry_dir):
    with webhook_server([500, 200]) as (url, hook):
        settings = _settings(tmp_path, registry_dir, alert_webhook_url=url)
        outcome = run_drift_check(settings, _score(settings, tmp_path), notifier=Notifier(settings, 0.01))
    assert len(hook.requests) == 2
    assert outcome.deliveries[0].delivered and outcome.deliveries[0].attempts == 2
    assert hook.requests[1]["body"]["kind"] == "drift" and hook.requests[1]["body"]["status"] == "drift"


def test_slack_retries_500_but_not_400(tmp_path, registry_dir):
    with webhook_server([500, 500, 200]) as (url, slack):
        settings = _settings(tmp_path, registry_dir, slack_webhook_url=url)
        assert Notifier(settings, 0.01).send("t", ["x"], {})[0].delivered
    assert len(slack.requests) == 3
    with webhook_server([400]) as (url, slack):
        settings = _settings(tmp_path, registry_dir, slack_webhook_url=url)
        delivery = Notifier(settings, 0.01).send("t", ["x"], {})[0]
    assert len(slack.requests) == 1
    assert not delivery.delivered and delivery.status == 400
    assert "SECRET-hook-token" not in (delivery.error or "")


def test_no_retry_after_400_on_webhook(tmp_path, registry_dir):
    with webhook_server([400]) as (url, hook):
        settings = _settings(tmp_path, registry_dir, alert_webhook_url=url)
        delivery = Notifier(settings, 0.01).send("t", ["x"], {})[0]
    assert len(hook.requests) == 1 and not delivery.delivered


def test_deduplication(tmp_path, registry_dir):
    with webhook_server([200]) as (url, hook):
        settings = _settings(tmp_path, registry_dir, alert_webhook_url=url)
        date = _score(settings, tmp_path)
        first = run_drift_check(settings, date, notifier=Notifier(settings, 0.01))
        second = run_drift_check(settings, date, notifier=Notifier(settings, 0.01))
    assert first.deliveries and not second.deliveries
    assert second.alert_skipped == "duplicate of a recent alert (not worse)"
    assert len(hook.requests) == 1


def test_dedup_rules(tmp_path):
    state = tmp_path / "state.json"
    assert should_alert(state, "k", 2, repeat_hours=24, now=1000)
    remember_alert(state, "k", 2, now=1000)
    assert not should_alert(state, "k", 2, repeat_hours=24, now=2000)
    assert should_alert(state, "k", 3, repeat_hours=24, now=2000)  # worse
    assert should_alert(state, "k", 2, repeat_hours=24, now=1000 + 24 * 3600)  # interval passed
    assert should_alert(state, "other", 1, repeat_hours=24, now=2000)


def test_secret_from_mounted_file(tmp_path, registry_dir):
    secret = tmp_path / "slack-url"
    with webhook_server([200]) as (url, slack):
        secret.write_text(url + "\n")
        settings = _settings(tmp_path, registry_dir, slack_webhook_url_file=secret)
        assert Notifier(settings, 0.01).send("t", ["x"], {})[0].delivered
    assert len(slack.requests) == 1


@pytest.mark.parametrize("failure", ["closed-port", "http-500"])
def test_batch_keeps_results_when_webhook_is_down(tmp_path, registry_dir, failure):
    source = write_csv(tmp_path / "foreign.csv", FOREIGN)
    with webhook_server([500]) as (url, _):
        if failure == "closed-port":
            url = url.replace(url.split("/")[2], "127.0.0.1:9")  # discard port: nothing listens
        env = {
            **os.environ,
            "SENTIOPS_HOME": str(tmp_path / "home"),
            "SENTIOPS_REGISTRY_DIR": str(registry_dir),
            "SENTIOPS_SLACK_WEBHOOK_URL": url,
            "SENTIOPS_ALERT_RETRIES": "1",
            "SENTIOPS_ALERT_TIMEOUT_SECONDS": "2",
        }
        done = subprocess.run(
            [sys.executable, "-m", "sentiops.cli", "batch", "run", "--input", str(source), "--date", "2026-08-01"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == ExitCode.MONITORING_FAILED, done.stdout + done.stderr
    scores = pq.read_table(tmp_path / "home" / "results" / "scores" / "date=2026-08-01")
    assert scores.num_rows == len(FOREIGN)
    assert (tmp_path / "home" / "results" / "runs" / "date=2026-08-01" / "part-00000-of-00001.json").is_file()
    assert "SECRET-hook-token" not in done.stdout + done.stderr
    log = (tmp_path / "home" / "results" / "alerts" / "log.jsonl").read_text()
    assert json.loads(log.splitlines()[-1])["deliveries"][0]["delivered"] is False
    assert "SECRET-hook-token" not in log


def test_a_retry_redoes_a_failed_alert_until_it_is_delivered(tmp_path, registry_dir):
    source = write_csv(tmp_path / "foreign.csv", [*FOREIGN, ("0", "\u200b")])  # one reject
    command = [sys.executable, "-m", "sentiops.cli", "batch", "run", "--input", str(source), "--date", "2026-08-02"]
    base = {
        **os.environ,
        "SENTIOPS_HOME": str(tmp_path / "home"),
        "SENTIOPS_REGISTRY_DIR": str(registry_dir),
        "SENTIOPS_ALERT_RETRIES": "1",
        "SENTIOPS_BATCH_MAX_REJECT_SHARE": "0",  # also over the reject limit: the alert failure must still show
    }

    def run(url: str) -> subprocess.CompletedProcess:
        env = {**base, "SENTIOPS_SLACK_WEBHOOK_URL": url}
        return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)

    with webhook_server([500, 500]) as (url, down):
        failed = run(url)
    assert failed.returncode == ExitCode.MONITORING_FAILED, failed.stdout + failed.stderr
    with webhook_server([200]) as (url, up):
        retried = run(url)
        again = run(url)
    assert retried.returncode == ExitCode.TOO_MANY_REJECTS, retried.stdout + retried.stderr
    assert "already scored" in retried.stdout
    assert len(up.requests) == 1  # delivered by the retry, not again by the run after it
    assert again.returncode == retried.returncode
