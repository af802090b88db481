"""Labels come back: by API (per prediction id or text) and by file, validated like training data,
into the store `retrain` reads; realized accuracy of a date joins them, late labels included."""

from __future__ import annotations

import datetime as dt
import json
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sentiops.cli import app as cli
from sentiops.config import get_settings
from sentiops.data.feedback import Label, add_labels
from sentiops.data.feedback_reader import current_labels, parts
from sentiops.data.store import read_split
from sentiops.data.trusted import held_back
from sentiops.monitoring.check import recheck_late_labels, run_drift_check
from sentiops.monitoring.realized import newest_realized
from sentiops.scoring import job, runs
from sentiops.serving.app import create_app
from tests.helpers.data import sample_rows, write_csv
from tests.helpers.feedback import predict
from tests.helpers.serving import make_settings, wait_for

TWEETS = [text for _, text in sample_rows(7000)[6700:7000]]


def _new_parts(data):
    return [p for p in parts(data) if not p.name.startswith("part-")]


def _people(answers, truth):
    """Labels people gave (a trusted import, as from a labelling tool), picked at random."""
    return [
        Label(y, prediction_id=a["prediction_id"], source="import", picked="random", trusted=True)
        for a, y in zip(answers, truth, strict=True)
    ]


def test_a_prediction_id_round_trips_to_that_dates_realized_accuracy_and_late_labels_update_it(client, settings):
    answers = predict(client, settings, TWEETS[:40])
    truth = ["negative" if i % 3 else "positive" for i in range(40)]
    first = add_labels(settings.data, settings.results, _people(answers[:30], truth[:30]))
    assert first.accepted == 30
    # An API caller sends the opposite of every answer: it must move nothing.
    flipped = [
        {"prediction_id": a["prediction_id"], "label": "negative" if a["label"] == "positive" else "positive"}
        for a in answers[:40]
    ]
    assert client.post("/feedback", json={"items": flipped}).json()["accepted"] == 40
    today = dt.datetime.now(dt.UTC).date().isoformat()
    day = write_csv(settings.results.parent / "day.csv", sample_rows(7300)[7000:7300])
    job.run_batch(settings, runs.BatchOptions([day], today))
    outcome = run_drift_check(settings, today, notify=False)
    realized = next(c for c in outcome.report.checks if c.name == "realized_performance")
    expected = sum(a["label"] == y for a, y in zip(answers[:30], truth[:30], strict=True)) / 30
    assert realized.numbers["all_n"] == 30 and realized.numbers["all_accuracy"] == pytest.approx(expected)
    assert realized.status == "too_few"  # 30 random labels < 100: reported, not graded
    assert realized.numbers["random_low"] <= expected <= realized.numbers["random_high"]
    record = json.loads((settings.results / "drift" / f"date={today}" / "drift.json").read_text())
    assert any(c["name"] == "realized_performance" for c in record["checks"])
    time.sleep(0.01)
    late = add_labels(settings.data, settings.results, _people(answers[30:], truth[30:]))
    assert late.accepted == 10
    assert recheck_late_labels(settings) == [today]
    history = pq.read_table(settings.results / "drift" / "history.parquet").to_pylist()
    assert history[-1]["realized_labels"] == 40
    assert newest_realized(settings.results) == pytest.approx(history[-1]["realized_accuracy"])  # the API's gauge
    assert recheck_late_labels(settings) == []  # nothing newer: nothing redone


def test_an_api_only_day_gets_realized_accuracy_from_its_prediction_log(client, settings, monkeypatch):
    """No batch that day: `drift check` and the daily CronJob check the API's answers instead."""
    answers = predict(client, settings, TWEETS[:40])
    truth = ["negative" if i % 3 else "positive" for i in range(40)]
    assert add_labels(settings.data, settings.results, _people(answers[:30], truth[:30])).accepted == 30
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert not (settings.results / "scores" / f"date={today}").exists()
    outcome = run_drift_check(settings, today, notify=False)
    assert outcome.source == "api" and outcome.report.n == 40
    realized = next(c for c in outcome.report.checks if c.name == "realized_performance")
    expected = sum(a["label"] == y for a, y in zip(answers[:30], truth[:30], strict=True)) / 30
    assert realized.numbers["all_n"] == 30 and realized.numbers["all_accuracy"] == pytest.approx(expected)
    history = pq.read_table(settings.results / "drift" / "history.parquet").to_pylist()
    assert history[-1]["source"] == "api" and history[-1]["realized_labels"] == 30
    assert newest_realized(settings.results) == pytest.approx(expected)  # the API's gauge
    with pytest.raises(ValueError, match="no batch scores"):
        run_drift_check(settings, today, settings.results.parent / "labels.csv", notify=False)
    # The daily CronJob with no batch input for the date: it checks the API's answers, exit 0.
    for name, value in (("DATA_DIR", settings.data), ("RESULTS_DIR", settings.results)):
        monkeypatch.setenv(f"SENTIOPS_{name}", str(value))
    monkeypatch.setenv("SENTIOPS_REGISTRY_DIR", str(settings.registry))
    monkeypatch.setenv("SENTIOPS_BATCH_INPUT", str(settings.results.parent / "input" / "date={date}"))
    monkeypatch.setenv("SENTIOPS_LABEL_QUEUE_SIZE", "0")
    get_settings.cache_clear()
    try:
        ran = CliRunner().invoke(cli, ["batch", "run", "--date", today])
        assert ran.exit_code == 0, ran.output
        assert f"no batch input for {today}: checking the API's answers" in ran.output
        assert f"drift {today} (API answers)" in ran.output
        # A date with neither batch input nor API answers is still a clear usage error.
        missing = CliRunner().invoke(cli, ["batch", "run", "--date", "2020-01-01"])
        assert missing.exit_code == 2 and "no readable input" in missing.output
        checked = CliRunner().invoke(cli, ["drift", "check", "--results", "2020-01-01"])
        assert checked.exit_code == 2 and "no API predictions" in checked.output
    finally:
        get_settings.cache_clear()


def test_a_second_label_for_a_prediction_replaces_the_first(client, settings):
    answer = predict(client, settings, TWEETS[:1])[0]
    pid = answer["prediction_id"]
    client.post("/feedback", json={"prediction_id": pid, "label": "negative"})
    again = client.post("/feedback", json={"prediction_id": pid, "label": "positive"}).json()
    assert again == {"accepted": 1, "rejected": []}  # nothing about what the store held
    labels = current_labels(settings.data).filter(pa.compute.equal(pa.compute.field("prediction_id"), pid))
    assert labels.column("label").to_pylist() == [1]  # the newest label only
    row = labels.to_pylist()[0]
    assert row["source"] == "api" and row["model_version"] == "1" and row["text"] == TWEETS[0]
    assert row["picked"] == "api" and row["trusted"] is False  # an API caller's pick is not a random sample


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"prediction_id": "2026113012-00000000000000000000", "label": "positive"}, 404, "unknown prediction id"),
        ({"text": "fine day", "label": "mixed"}, 422, "label"),
        ({"text": "fine day", "label": "positive", "prediction_id": "x"}, 422, "exactly one"),
        ({"label": "positive"}, 422, "exactly one"),
        ({"text": "   ", "label": "positive"}, 422, "empty"),
        ({"text": "a\x00b", "label": "positive"}, 422, "NUL"),
        ({"text": "x" * 1001, "label": "positive"}, 422, "limit"),
        ({"items": [{"text": f"tweet {i}", "label": "positive"} for i in range(257)]}, 422, "257"),
        ({"items": []}, 422, "items"),
    ],
)
def test_bad_feedback_is_a_clear_4xx_and_stores_nothing(client, settings, body, status, fragment):
    response = client.post("/feedback", json=body)
    assert response.status_code == status, response.text
    assert fragment.lower() in response.text.lower()
    assert _new_parts(settings.data) == []


def test_a_holdout_or_validation_tweet_is_kept_out_without_telling_the_caller(client, settings):
    holdout = read_split(settings.data, "holdout").column("text").to_pylist()[0]
    validation = read_split(settings.data, "validation").column("text").to_pylist()[0]
    body = {
        "items": [
            {"text": holdout, "label": "positive"},
            {"text": validation.upper(), "label": "negative"},
            {"text": TWEETS[5], "label": "negative"},
        ]
    }
    answer = client.post("/feedback", json=body).json()
    # The answer does not reveal which texts the gate's evidence holds ...
    assert answer == {"accepted": 3, "rejected": []}
    # ... the store does not take them, and the rejects file on the volume says why.
    stored = pq.read_table(_new_parts(settings.data)[0]).to_pylist()
    assert [r["text"] for r in stored] == [TWEETS[5]]
    rejects = pq.read_table(settings.data / "feedback" / "rejects").to_pylist()
    assert len(rejects) == 2 and all("holdout" in r["reason"] for r in rejects)


def test_conflicting_labels_are_held_out_and_duplicates_kept_once(client, settings):
    body = {
        "items": [
            {"text": TWEETS[7], "label": "positive"},
            {"text": TWEETS[7].upper(), "label": "negative"},
            {"text": TWEETS[8], "label": "positive"},
            {"text": TWEETS[8], "label": "positive"},
        ]
    }
    answer = client.post("/feedback", json=body).json()
    assert answer["accepted"] == 2 and [r["item"] for r in answer["rejected"]] == ["0", "1"]
    assert all("conflicting labels" in r["reason"] for r in answer["rejected"])
    stored = pq.read_table(_new_parts(settings.data)[0]).to_pylist()
    assert [r["text"] for r in stored] == [TWEETS[8]]
    # Sent again, a label the store holds says nothing new to the caller either.
    assert client.post("/feedback", json=body["items"][2]).json() == {"accepted": 1, "rejected": []}


def test_the_feedback_route_needs_the_prediction_token(tmp_path, registry_dir, data):
    secured = make_settings(registry_dir, data_dir=data, results_dir=tmp_path / "r", api_token="s3cret-token")
    with TestClient(create_app(secured)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        assert client.post("/feedback", json={"text": "nice", "label": "positive"}).status_code == 401
        ok = client.post(
            "/feedback", json={"text": TWEETS[9], "label": "positive"}, headers={"Authorization": "Bearer s3cret-token"}
        )
        assert ok.status_code == 200 and ok.json()["accepted"] == 1


# -- feedback import ------------------------------------------------------------------------------


def _import(*args):
    return CliRunner().invoke(cli, ["feedback", "import", *args])


def test_import_reads_words_and_the_official_sentiment140_layout(cli_env, tmp_path):
    words = tmp_path / "labels.csv"
    words.write_text(
        "text,label\n" + "".join(f'"{t}",{"positive" if i % 2 else "negative"}\n' for i, t in enumerate(TWEETS[20:30]))
    )
    official = tmp_path / "official.csv"
    official.write_bytes(
        "".join(
            f'"{4 if i % 2 else 0}","{i}","Mon Apr 06","NO_QUERY","user","{t}"\n' for i, t in enumerate(TWEETS[30:40])
        ).encode("latin-1", "replace")
    )
    for file in (words, official):
        result = _import(str(file), "--source", "vendor")
        assert result.exit_code == 0, result.output
        assert "10 labels added" in result.output
    stored = current_labels(cli_env.data).filter(pa.compute.equal(pa.compute.field("source"), "vendor"))
    assert stored.num_rows == 20 and set(stored.column("picked").to_pylist()) == {"random"}


def test_import_by_prediction_id_and_picked_labels(cli_env, client, tmp_path):
    answers = predict(client, cli_env, TWEETS[40:45])
    file = tmp_path / "ids.jsonl"
    file.write_text("".join(json.dumps({"prediction_id": a["prediction_id"], "label": 1}) + "\n" for a in answers))
    result = _import(str(file), "--picked", "picked", "--scheme", "binary")
    assert result.exit_code == 0 and "5 labels added" in result.output, result.output
    stored = current_labels(cli_env.data).filter(pa.compute.equal(pa.compute.field("picked"), "picked"))
    assert sorted(stored.column("text").to_pylist()) == sorted(TWEETS[40:45])


def test_import_rejects_bad_rows_with_reasons_and_a_failed_import_leaves_the_store_as_it_was(
    cli_env, tmp_path, monkeypatch
):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\n" + f'"{TWEETS[50]}",positive\n' + '"",positive\n' + f'"{TWEETS[51]}",maybe\n')
    result = _import(str(bad), "--scheme", "words")
    assert result.exit_code == 0 and "1 labels added" in result.output and "2 refused" in result.output
    reasons = pq.read_table(cli_env.data / "feedback" / "rejects").column("reason").to_pylist()
    assert any("empty" in r for r in reasons) and any("maybe" in r or "label" in r for r in reasons)

    before = sorted(p.name for p in (cli_env.data / "feedback").rglob("*"))
    from sentiops.data import feedback

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(feedback.pq, "write_table", disk_full)
    good = write_csv(tmp_path / "good.csv", [("4", t) for t in TWEETS[60:70]])
    failed = _import(str(good))
    assert failed.exit_code == 1 and "could not write" in failed.output
    assert sorted(p.name for p in (cli_env.data / "feedback").rglob("*")) == before


def test_retrain_reads_api_feedback_parts(cli_env, client):
    from sentiops.registry import Registry
    from sentiops.training.retrain import RetrainOptions, gather_data

    body = {"items": [{"text": t, "label": "positive" if i % 2 else "negative"} for i, t in enumerate(TWEETS[100:140])]}
    assert client.post("/feedback", json=body).json()["accepted"] == 40
    data = gather_data(cli_env, Registry(cli_env.registry), "1", RetrainOptions(max_examples=100000))
    used = {f["path"] for f in data["files"]}
    assert any("api-" in path for path in used)
    texts = set(data["train"].column("text").to_pylist()) | set(data["newest"].column("text").to_pylist())
    # Every one trains or is held back as newest data, but the trusted evaluation share (never trained on).
    share = cli_env.retrain_trusted_share
    assert {t for t in TWEETS[100:140] if not held_back(t, share)} <= texts
    assert not {t for t in TWEETS[100:140] if held_back(t, share)} & texts


def test_a_label_sent_right_after_its_prediction_is_taken_before_the_log_flushes(tmp_path, registry_dir, data):
    slow = make_settings(
        registry_dir, data_dir=data, results_dir=tmp_path / "r", prediction_log_flush_seconds=3600, backend="ort-int8"
    )
    with TestClient(create_app(slow)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        answers = [client.post("/predict", json={"text": t}).json() for t in TWEETS[60:65]]
        items = [{"prediction_id": a["prediction_id"], "label": "positive"} for a in answers]
        sent = client.post("/feedback", json={"items": items})
        assert sent.status_code == 200 and sent.json()["accepted"] == 5
        stored = current_labels(slow.data).to_pylist()
        assert {r["prediction_id"] for r in stored if r["source"] == "api"} == {a["prediction_id"] for a in answers}
        assert {r["text"] for r in stored if r["source"] == "api"} == set(TWEETS[60:65])
        assert (
            client.post("/feedback", json={"prediction_id": "2026010100-" + "0" * 20, "label": "positive"}).status_code
            == 404
        )


def test_a_store_that_cannot_be_written_is_a_503_with_its_reason(client, settings, monkeypatch):
    import errno
    import os

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "feedback.parquet")

    monkeypatch.setattr("sentiops.data.feedback.pq.write_table", full)
    refused = client.post("/feedback", json={"text": TWEETS[66], "label": "positive"})
    assert refused.status_code == 503 and "No space left on device" in refused.json()["detail"]
    assert _new_parts(settings.data) == []  # nothing half-written
