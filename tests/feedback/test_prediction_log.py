"""The prediction log: every answer recorded off the request path, disjoint files per process,
nothing lost on SIGTERM, at most the buffer on SIGKILL, and a failing disk never fails a request."""

from __future__ import annotations

import datetime as dt
import signal

import httpx
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from sentiops.data.predictions import log_files, new_prediction_id, partition_of, prune, read_log
from sentiops.serving.app import create_app
from tests.helpers.data import sample_rows
from tests.helpers.serving import free_port, is_ready, make_settings, metric_value, start_serve, wait_for

TWEETS = [text for _, text in sample_rows(400)[300:400]]


def _logged_ids(results) -> list[str]:
    ids: list[str] = []
    for file in log_files(results):
        ids += pq.read_table(file, columns=["prediction_id"]).column(0).to_pylist()
    return ids


def test_every_answer_carries_an_id_and_is_logged_with_its_record(tmp_path, registry_dir):
    settings = make_settings(registry_dir, results_dir=tmp_path / "results", prediction_log_flush_seconds=0.05)
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        one = client.post("/predict", json={"text": TWEETS[0]}, headers={"X-Request-ID": "req-1"})
        many = client.post("/predict/batch", json={"texts": TWEETS[1:6]}).json()["predictions"]
        ids = [one.json()["prediction_id"], *(p["prediction_id"] for p in many)]
        assert one.headers["x-prediction-id"] == ids[0] and len(set(ids)) == 6
        wait_for(lambda: len(_logged_ids(settings.results)) == 6)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    rows = {r["prediction_id"]: r for r in read_log(settings.results, today).to_pylist()}
    first = rows[ids[0]]
    assert first["request_id"] == "req-1" and first["text"] == TWEETS[0] and first["role"] == "production"
    assert first["model_version"] == "1" and first["engine"] and first["label"] == one.json()["label"]
    assert dict(first["scores"]) == pytest.approx(one.json()["scores"], abs=1e-6)
    assert first["time"].tzinfo is not None and first["text_sha256"]
    assert [rows[i]["text"] for i in ids[1:]] == TWEETS[1:6]


def test_hash_only_keeps_no_text(tmp_path, registry_dir):
    settings = make_settings(
        registry_dir, results_dir=tmp_path / "r", prediction_log_flush_seconds=0.05, prediction_log_text="hash"
    )
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        client.post("/predict", json={"text": TWEETS[0]})
    rows = read_log(settings.results, dt.datetime.now(dt.UTC).date().isoformat()).to_pylist()
    assert len(rows) == 1 and rows[0]["text"] is None and len(rows[0]["text_sha256"]) == 64


def _drops(client) -> float:
    return metric_value(client, "sentiops_prediction_log_dropped_total")


def test_a_log_folder_that_cannot_be_written_drops_and_counts_but_predict_answers(tmp_path, registry_dir):
    results = tmp_path / "results"
    results.mkdir()
    (results / "predictions").write_text("not a folder")  # every write of the log fails
    settings = make_settings(registry_dir, results_dir=results, prediction_log_flush_seconds=0.05)
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        for text in TWEETS[:20]:
            assert client.post("/predict", json={"text": text}).status_code == 200
        wait_for(lambda: _drops(client) >= 20)


def test_a_full_disk_drops_and_counts_but_predict_answers(tmp_path, registry_dir, monkeypatch):
    from sentiops.serving import prediction_log

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(prediction_log.pq, "write_table", full)
    settings = make_settings(registry_dir, results_dir=tmp_path / "r", prediction_log_flush_seconds=0.05)
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        assert client.post("/predict/batch", json={"texts": TWEETS[:10]}).status_code == 200
        wait_for(lambda: _drops(client) >= 10)
        assert client.post("/predict", json={"text": TWEETS[11]}).status_code == 200


def test_a_full_buffer_drops_instead_of_waiting(tmp_path, registry_dir):
    settings = make_settings(
        registry_dir,
        results_dir=tmp_path / "r",
        prediction_log_flush_seconds=60,
        prediction_log_flush_rows=10_000,
        prediction_log_buffer_rows=5,
    )
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        assert client.post("/predict/batch", json={"texts": TWEETS[:8]}).status_code == 200
        assert _drops(client) == 3
    assert len(_logged_ids(settings.results)) == 5  # what the buffer held was flushed at shutdown


def test_two_api_processes_on_one_volume_write_disjoint_files_and_sigterm_loses_nothing(tmp_path, serve_env):
    env = {**serve_env, "SENTIOPS_PREDICTION_LOG_FLUSH_SECONDS": "0.2", "SENTIOPS_PREDICTION_LOG_FLUSH_ROWS": "7"}
    ports = [free_port(), free_port()]
    servers = [start_serve(env, port) for port in ports]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        wait_for(lambda: all(is_ready(b) for b in bases), timeout=60)
        answered: list[str] = []
        with httpx.Client() as client:
            for i, text in enumerate(TWEETS[:60]):
                answered.append(client.post(f"{bases[i % 2]}/predict", json={"text": text}).json()["prediction_id"])
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(timeout=30)
    logged = _logged_ids(tmp_path / "results")
    assert sorted(logged) == sorted(answered)  # every answer once: nothing lost, nothing twice
    writers = {f.name.rsplit("-", 1)[0] for f in log_files(tmp_path / "results")}
    assert len(writers) == 2 and all(w.startswith("api-pod-") for w in writers)


def test_sigkill_loses_at_most_the_unflushed_buffer_and_leaves_every_file_readable(tmp_path, serve_env):
    env = {**serve_env, "SENTIOPS_PREDICTION_LOG_FLUSH_SECONDS": "0.2"}
    port = free_port()
    server = start_serve(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: is_ready(base), timeout=60)
        with httpx.Client() as client:
            first = [client.post(f"{base}/predict", json={"text": t}).json()["prediction_id"] for t in TWEETS[:30]]
            wait_for(lambda: set(first) <= set(_logged_ids(tmp_path / "results")))
            for text in TWEETS[30:60]:
                client.post(f"{base}/predict", json={"text": text})
    finally:
        server.kill()
        server.wait(timeout=30)
    logged = _logged_ids(tmp_path / "results")  # reads every file: none is torn
    assert set(first) <= set(logged) and len(logged) <= 60 and len(set(logged)) == len(logged)


def test_ids_name_their_hour_and_prune_keeps_the_retention(tmp_path):
    now = dt.datetime(2026, 11, 30, 17, 5, tzinfo=dt.UTC)
    assert partition_of(new_prediction_id(now)) == ("2026-11-30", "17")
    assert partition_of("batch-20261130-abc") is None
    for day in ("2026-10-01", "2026-11-01", "2026-11-30"):
        folder = tmp_path / "predictions" / f"date={day}" / "hour=00"
        folder.mkdir(parents=True)
        (folder / "x.parquet").write_bytes(b"")
    assert prune(tmp_path, 30, today=dt.date(2026, 12, 1)) == ["2026-10-01"]
    assert sorted(p.name for p in (tmp_path / "predictions").iterdir()) == ["date=2026-11-01", "date=2026-11-30"]
