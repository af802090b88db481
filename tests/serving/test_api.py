"""The prediction API: contract, bad input, readiness, metrics, auth, hot reload."""

from __future__ import annotations

import concurrent.futures
import gc
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from sentiops.inference import Predictor
from sentiops.serving.app import create_app
from tests.helpers.serving import clone_version, live_server, make_settings, wait_ready

TWEETS = ["i love this so much", "worst day ever :(", "@bob http://x.co meh", "ok " * 100]


@pytest.fixture
def client(registry_dir):
    with TestClient(create_app(make_settings(registry_dir))) as client:
        wait_ready(client)
        yield client


def test_predict_contract_matches_predictor(client, registry):
    # The same engine the service chose; and since dynamic int8 quantisation scales activations
    # per batch, like with like: a lone request is a batch of one.
    predictor = Predictor.load(registry, backend=client.get("/model").json()["backend"])
    expected = [predictor.predict([text])[0] for text in TWEETS]
    for text, want in zip(TWEETS, expected, strict=True):
        response = client.post("/predict", json={"text": text})
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"label", "confidence", "scores", "model_version", "prediction_id"}
        assert response.headers["x-prediction-id"] == body["prediction_id"]
        assert body["model_version"] == "1"
        assert body["label"] == want.label
        assert body["confidence"] == pytest.approx(want.confidence, abs=1e-6)
        assert body["scores"] == pytest.approx(want.scores, abs=1e-6)
        assert response.headers["x-request-id"]


def test_batch_keeps_order_and_matches_predictor(registry_dir, registry):
    # fp32: the request is scored in micro-batch pieces, and dynamic int8 scales activations
    # per batch, so only an engine without that effect can be compared number for number.
    with TestClient(create_app(make_settings(registry_dir, backend="ort-fp32"))) as client:
        wait_ready(client)
        expected = Predictor.load(registry, backend="ort-fp32").predict(TWEETS)
        response = client.post("/predict/batch", json={"texts": TWEETS})
    assert response.status_code == 200
    got = response.json()["predictions"]
    assert [p["label"] for p in got] == [p.label for p in expected]
    assert [p["confidence"] for p in got] == pytest.approx([p.confidence for p in expected], abs=1e-5)


@pytest.mark.parametrize(
    ("route", "payload", "status", "fragment"),
    [
        ("/predict", {"text": ""}, 422, "text: empty text"),
        ("/predict", {"text": "   \n "}, 422, "text: empty text"),
        ("/predict", {"text": 123}, 422, "valid string"),
        ("/predict", {"text": None}, 422, "valid string"),
        ("/predict", {}, 422, "Field required"),
        ("/predict", {"text": "hi", "extra": 1}, 422, "Extra inputs"),
        ("/predict", {"text": "x" * 1001}, 422, "1001 characters; the limit is 1000"),
        ("/predict/batch", {"texts": []}, 422, "texts is empty"),
        ("/predict/batch", {"texts": ["ok"] * 257}, 422, "257 texts; the limit is 256"),
        ("/predict/batch", {"texts": ["ok", " "]}, 422, "texts[1]: empty text"),
        ("/predict/batch", {"texts": "not a list"}, 422, "valid list"),
        ("/predict", {"text": "a\u0000b"}, 422, "NUL"),
        ("/predict", {"text": "\u200b\u200b \ufeff"}, 422, "no visible characters"),
        ("/predict/batch", {"texts": ["fine", "\u200d"]}, 422, "texts[1]: no visible characters"),
    ],
)
def test_bad_input_is_a_clear_4xx(client, route, payload, status, fragment):
    response = client.post(route, json=payload)
    assert response.status_code == status
    assert fragment in response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("route", "body", "fragment"),
    [
        ("/predict", b'{"text": "\\ud800"}', "text: invalid Unicode"),
        ("/predict", b'{"text": "ok \\udfff ok"}', "text: invalid Unicode"),
        ("/predict/batch", b'{"texts": ["fine", "\\ud83d"]}', "texts[1]: invalid Unicode"),
    ],
)
def test_lone_surrogates_are_a_4xx_for_that_request_only(client, route, body, fragment):
    response = client.post(route, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert fragment in response.json()["detail"]
    assert client.post("/predict", json={"text": "still serving"}).status_code == 200


def test_malformed_json_and_oversized_body(client):
    response = client.post("/predict", content=b'{"text": "unclosed', headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "JSON" in response.text
    response = client.post("/predict", content=b'{"text": "' + b"a" * 1_000_001 + b'"}')
    assert response.status_code == 413
    assert "over 1000000 bytes" in response.json()["detail"]


def test_not_ready_without_a_model(tmp_path):
    with TestClient(create_app(make_settings(tmp_path / "empty-registry"))) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503
        response = client.post("/predict", json={"text": "hello"})
        assert response.status_code == 503
        assert "no model" in response.json()["detail"]


def test_ready_once_production_appears(tmp_path, registry):
    settings = make_settings(registry.root)
    aliases = registry.aliases_path.read_text()
    registry.aliases_path.unlink()
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 503
        registry.aliases_path.write_text(aliases)
        wait_ready(client, timeout=10)
        assert client.get("/model").json()["version"] == "1"


def test_metrics_count(client):
    client.post("/predict", json={"text": "love it"})
    client.post("/predict/batch", json={"texts": ["a", "b", "c"]})
    client.post("/predict", json={"text": ""})
    text = client.get("/metrics").text
    assert 'sentiops_http_requests_total{method="POST",route="/predict",status="200"} 1.0' in text
    assert 'sentiops_http_requests_total{method="POST",route="/predict",status="422"} 1.0' in text
    assert 'sentiops_http_request_duration_seconds_count{route="/predict/batch"} 1.0' in text
    assert "sentiops_microbatch_size_count 2.0" in text
    labels = [line for line in text.splitlines() if line.startswith("sentiops_predictions_total")]
    assert sum(float(line.split()[-1]) for line in labels) == 4
    assert "sentiops_prediction_confidence_bucket" in text
    info = next(line for line in text.splitlines() if line.startswith("sentiops_model_info{"))
    assert 'version="1"' in info and 'backend="' in info
    assert 'sentiops_model_reloads_total{result="success"} 1.0' in text


def test_model_info(client):
    body = client.get("/model").json()
    assert body["version"] == "1"
    choice = body["backend_choice"]
    assert choice["mode"] == "auto" and body["backend"] == choice["backend"]
    assert choice["texts_per_second"][body["backend"]] == max(choice["texts_per_second"].values())
    assert 0 <= body["metrics"]["holdout"]["accuracy"] <= 1
    from sentiops.engines import cpu_threads

    assert body["threads"] == cpu_threads()  # the CPU quota of this process's cgroup, else its cores


def test_auth_on(registry_dir, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cret-token\n")
    settings = make_settings(registry_dir, api_token_file=secret, admin_token="operator-token")
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        assert client.post("/predict", json={"text": "hi"}).status_code == 401
        bad = {"Authorization": "Bearer nope"}
        assert client.post("/predict", json={"text": "hi"}, headers=bad).status_code == 401
        good = {"Authorization": "Bearer s3cret-token"}
        assert client.post("/predict", json={"text": "hi"}, headers=good).status_code == 200
        operator = {"Authorization": "Bearer operator-token"}
        assert client.post("/predict", json={"text": "hi"}, headers=operator).status_code == 401  # each role its own
        assert client.post("/admin/reload").status_code == 401
        assert client.post("/admin/reload", headers=good).status_code == 401  # an API caller is no operator
        response = client.post("/admin/reload", headers=operator)
        assert response.json() == {"changed": False, "version": "1"}
        assert client.get("/healthz").status_code == 200  # probes stay open


@pytest.mark.parametrize("content", [None, "", "  \n", "abc\n"], ids=["missing", "empty", "blank", "too short"])
def test_auth_fails_closed_when_the_token_file_is_missing_or_empty(registry_dir, tmp_path, content, caplog):
    # What happens when the token Secret is absent or broken: never serve without auth.
    secret = tmp_path / "token"
    if content is not None:
        secret.write_text(content)
    with TestClient(create_app(make_settings(registry_dir, api_token_file=secret))) as client:
        time.sleep(1.5)  # long enough for the model to load: readiness must still say no
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "no-token"
        refused = client.post("/predict", json={"text": "hi"})
        assert refused.status_code == 503 and str(secret) in refused.json()["detail"]
        assert client.post("/predict", json={"text": "hi"}, headers={"Authorization": "Bearer "}).status_code == 503
        assert client.get("/ui").status_code == 401  # the dashboard is for people, with their own credentials
        assert client.get("/healthz").status_code == 200  # alive, just not ready
        assert any(str(secret) in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)

        secret.write_text("late-token\n")  # the Secret appears: no restart needed
        wait_ready(client)
        good = {"Authorization": "Bearer late-token"}
        assert client.post("/predict", json={"text": "hi"}, headers=good).status_code == 200


def test_a_token_too_short_to_redact_is_refused_at_start(registry_dir):
    with (
        pytest.raises(ValueError, match="shorter than 6"),
        TestClient(create_app(make_settings(registry_dir, api_token="abc"))),
    ):
        pass


def test_a_rotated_token_file_is_read_again_without_a_restart(registry_dir, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("first-token")
    with TestClient(create_app(make_settings(registry_dir, api_token_file=secret))) as client:
        wait_ready(client)
        first, second = {"Authorization": "Bearer first-token"}, {"Authorization": "Bearer second-token"}
        assert client.post("/predict", json={"text": "hi"}, headers=first).status_code == 200
        # Kubernetes rotates a Secret by swapping the mounted file for a new one.
        replacement = tmp_path / "token.new"
        replacement.write_text("second-token")
        replacement.replace(secret)
        deadline = time.time() + 5
        while (
            time.time() < deadline and client.post("/predict", json={"text": "hi"}, headers=second).status_code != 200
        ):
            time.sleep(0.2)
        assert client.post("/predict", json={"text": "hi"}, headers=second).status_code == 200
        assert client.post("/predict", json={"text": "hi"}, headers=first).status_code == 401


def test_auth_off_keeps_admin_closed(client):
    assert client.post("/predict", json={"text": "hi"}).status_code == 200
    response = client.post("/admin/reload")
    assert response.status_code == 403
    assert "no operator token" in response.json()["detail"]


def test_corrupt_new_version_is_refused_and_old_keeps_serving(registry):
    new = clone_version(registry, "1")
    target = registry.path(new) / "model.int8.onnx"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    settings = make_settings(registry.root, admin_token="admin-token", reload_poll_seconds=3600)
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        registry.set_alias("production", new)
        auth = {"Authorization": "Bearer admin-token"}
        response = client.post("/admin/reload", headers=auth)
        assert response.status_code == 409
        assert "checksum mismatch" in response.json()["detail"]
        assert "still serving 1" in response.json()["detail"]
        assert client.post("/predict", json={"text": "still here"}, headers=auth).json()["model_version"] == "1"
        assert 'sentiops_model_reloads_total{result="failure"} 1.0' in client.get("/metrics").text


def test_hot_reload_under_concurrent_requests(registry):
    app = create_app(make_settings(registry.root, reload_poll_seconds=0.1))
    new = clone_version(registry, "1")
    with live_server(app) as base:
        statuses: list[int] = []
        versions: set[str] = set()
        stop = time.time() + 60

        def hammer() -> None:
            with httpx.Client(base_url=base, timeout=10) as http:
                while time.time() < stop:
                    response = http.post("/predict", json={"text": "hot reload test tweet"})
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        versions.add(response.json()["model_version"])
                        if response.json()["model_version"] == new and len(statuses) > 200:
                            return

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(hammer) for _ in range(8)]
            time.sleep(0.5)
            registry.set_alias("production", new)
            for future in futures:
                future.result()
    assert statuses and set(statuses) == {200}
    assert versions == {"1", new}


def test_an_overloaded_service_answers_503_with_retry_after(client):
    batcher = client.app.state.sentiops.batcher
    batcher.seconds_per_text = 5.0  # as if each text took 5 s: any wait passes the 1 s limit
    response = client.post("/predict", json={"text": "hello"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "overloaded" in response.json()["detail"]
    assert "sentiops_overload_rejections_total 1.0" in client.get("/metrics").text
    batcher.seconds_per_text = 0.001
    assert client.post("/predict", json={"text": "hello"}).status_code == 200


def test_a_huge_invalid_body_gets_a_small_422_at_once_and_healthz_is_not_held_up(registry_dir):
    import json
    import threading

    body = json.dumps({"texts": [1] * 165_000})  # 660 KB of wrong items, under the body cap
    with live_server(create_app(make_settings(registry_dir))) as base, httpx.Client(base_url=base, timeout=30) as http:
        health: list[float] = []

        def probe() -> None:
            started = time.perf_counter()
            http.get("/healthz")
            health.append(time.perf_counter() - started)

        started = time.perf_counter()
        thread = threading.Thread(target=probe)
        thread.start()
        response = http.post("/predict/batch", content=body, headers={"content-type": "application/json"})
        seconds = time.perf_counter() - started
        thread.join()
        assert response.status_code == 422
        assert len(response.content) < 5_000, len(response.content)
        assert seconds < 1.0 and health[0] < 1.0, (seconds, health)
        many = http.post("/predict/batch", json={"texts": [1] * 100})  # within the schema's bound
        detail = many.json()["detail"]
        assert len(detail) == 21 and detail[-1]["msg"] == "and 80 more errors"


def test_metrics_and_model_can_be_protected_by_the_token(registry_dir):
    open_settings = make_settings(registry_dir, api_token="ops-token-1")
    with TestClient(create_app(open_settings)) as client:
        wait_ready(client)
        assert client.get("/metrics").status_code == 200 and client.get("/model").status_code == 200
    closed = make_settings(registry_dir, api_token="ops-token-1", protect_operations=True)
    with TestClient(create_app(closed)) as client:
        wait_ready(client)
        assert client.get("/metrics").status_code == 401 and client.get("/model").status_code == 401
        auth = {"Authorization": "Bearer ops-token-1"}
        assert client.get("/metrics", headers=auth).status_code == 200
        assert client.get("/model", headers=auth).status_code == 200
        assert client.get("/healthz").status_code == 200  # the probes stay open


def test_the_startup_heap_is_frozen_out_of_the_garbage_collector(registry_dir):
    gc.unfreeze()  # another test's app may have frozen this process's heap already
    with TestClient(create_app(make_settings(registry_dir))) as client:
        wait_ready(client)
        assert gc.get_freeze_count() > 100_000  # the libraries' objects: full collections skip them
    gc.unfreeze()
