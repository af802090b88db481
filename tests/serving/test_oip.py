"""The Open Inference Protocol (v2 REST) beside /predict, checked with two real clients no one here
wrote (tritonclient.http and the kserve SDK's REST client, in var/tools/oip-clients), and what they
answer joined to the rest of the service: the same labels as /predict, the prediction log (a label
sent back for an OIP prediction id is taken), a three-class version's scores and classes."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from sentiops.serving.app import create_app
from tests.helpers.data import REPO
from tests.helpers.neutral import NEUTRAL
from tests.helpers.serving import live_server, make_settings, wait_ready

CLIENTS = REPO / "var" / "tools" / "oip-clients" / "bin" / "python"
TOKEN = "caller-token-for-oip"
TWEETS = ["i love this so much, best day ever", "worst day ever, i hate it", "the bus leaves at nine"]
V2_TEXT = {"name": "text", "datatype": "BYTES"}


@pytest.fixture(scope="module")
def clients_ran(tmp_path_factory, _trained_registry):
    """One live server (a token, the prediction log on), both clients' calls, and /predict's answers."""
    if not CLIENTS.exists():
        pytest.skip("the Open Inference Protocol clients are installed by `make tools` (make test does it)")
    registry_dir = tmp_path_factory.mktemp("oip") / "registry"
    shutil.copytree(_trained_registry, registry_dir)
    settings = make_settings(
        registry_dir, api_token=TOKEN, results_dir=registry_dir.parent / "results", prediction_log_flush_seconds=0.1
    )
    with live_server(create_app(settings)) as base:
        run = subprocess.run(
            [str(CLIENTS), str(REPO / "tests" / "helpers" / "oip_clients.py"), base, TOKEN, "sentiops", "1"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        results = json.loads(run.stdout)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            direct = [client.post("/predict", json={"text": t}).json()["label"] for t in TWEETS]
            ids = results["triton"]["batch_binary"]["prediction_ids"]
            time.sleep(0.5)  # the log's writer thread flushes every 0.1 s
            feedback = client.post("/feedback", json={"prediction_id": ids[1], "label": "negative"})
            unknown = client.post(
                "/feedback", json={"prediction_id": "2026120100-000000000000000000ff", "label": "negative"}
            )
        yield results, direct, feedback, unknown


def test_tritonclient_reads_health_metadata_and_answers(clients_ran):
    results, direct, *_ = clients_ran
    triton = results["triton"]
    assert triton["live"] and triton["ready"] and triton["model_ready"]
    assert "binary_tensor_data" in triton["server_metadata"]["extensions"]
    meta = triton["metadata"]
    assert meta["name"] == "sentiops" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{**V2_TEXT, "shape": [-1]}]
    assert {o["name"]: o["datatype"] for o in meta["outputs"]} == {
        "label": "BYTES",
        "confidence": "FP32",
        "scores": "FP32",
        "prediction_id": "BYTES",
    }
    assert meta["parameters"]["classes"] == ["negative", "positive"]
    # JSON and the binary extension give the same answers, and the same as /predict.
    assert triton["one_json"]["labels"] == direct[:1]
    assert triton["batch_binary"]["labels"] == direct
    for row in triton["batch_binary"]["scores"]:
        assert len(row) == 2 and sum(row) == pytest.approx(1, abs=1e-5)
    classes = triton["batch_binary"]["response"]["outputs"][1]["parameters"]["classes"]
    for label, row in zip(direct, triton["batch_binary"]["scores"], strict=True):
        assert classes[row.index(max(row))] == label
    assert len(set(triton["batch_binary"]["prediction_ids"])) == 3
    assert triton["pinned"]["response"]["model_version"] == "1"
    assert len(triton["default_outputs"]["ok"]["confidence"]) == 1
    assert triton["view_binary"]["ok"]["labels"][0] in ("negative", "positive")


def test_tritonclient_gets_the_protocols_errors(clients_ran):
    triton = clients_ran[0]["triton"]
    expected = {
        "no_token": ("401", "bearer token"),
        "unknown_model": ("404", "unknown model 'gpt'"),
        "unknown_model_metadata": ("404", "unknown model 'gpt'"),
        "unknown_version": ("404", "version '999'"),
        "wrong_datatype": ("400", "expected BYTES"),
        "too_many": ("400", "300 texts; the limit is 256"),
    }
    for case, (status, words) in expected.items():
        assert triton[case]["status"] == status, case
        assert words in triton[case]["message"], case


def test_the_kserve_client_answers_and_gets_the_protocols_errors(clients_ran):
    results, direct, *_ = clients_ran
    kserve = results["kserve"]
    assert kserve["live"] and kserve["ready"] and kserve["model_ready"]
    assert kserve["unknown_model_ready"] is False
    assert kserve["one"]["ok"]["outputs"]["label"] == direct[:1]
    batch = kserve["batch"]["ok"]["outputs"]
    assert batch["label"] == direct and len(batch["scores"]) == 6  # flattened [3, 2]
    assert batch["confidence"] == pytest.approx([max(batch["scores"][i : i + 2]) for i in (0, 2, 4)], abs=1e-6)
    for case, status, words in [
        ("shape_mismatch", 400, "shape [5] holds 5 elements but data has 3"),
        ("unknown_model", 404, "unknown model 'gpt'"),
        ("empty_text", 400, "text[0]: empty"),
        ("oversized_text", 400, "5000 characters; the limit is 1000"),
    ]:
        assert kserve[case]["status"] == status, case
        assert words in kserve[case]["message"], case


def test_an_oip_answer_is_in_the_prediction_log_so_a_label_joins_it(clients_ran):
    *_, feedback, unknown = clients_ran
    assert feedback.status_code == 200, feedback.text
    assert feedback.json()["accepted"] == 1
    assert unknown.status_code == 404


def _infer(client, texts, **extra):
    body = {"inputs": [{**V2_TEXT, "shape": [len(texts)], "data": texts}], **extra}
    return client.post("/v2/models/sentiops/infer", json=body)


def test_bad_requests_get_the_protocols_error_shape(registry_dir):
    with TestClient(create_app(make_settings(registry_dir, max_body_bytes=5000))) as client:
        wait_ready(client)
        cases = [
            (client.post("/v2/models/sentiops/infer", content=b"x" * 6000), 413, "over 5000 bytes"),
            (client.post("/v2/models/sentiops/infer", content=b"{not json"), 400, "not valid JSON"),
            (_infer(client, TWEETS[:1], outputs=[{"name": "logits"}]), 400, "unknown output 'logits'"),
            (_infer(client, TWEETS[:1], parameters={"view": "five-star"}), 400, "parameter view"),
            (_infer(client, TWEETS[:1], parameters={"view": "three-class"}), 400, "answers negative, positive only"),
            (_infer(client, [1, 2]), 400, "every element must be a string"),
            (client.post("/v2/models/sentiops/infer", json={"inputs": []}), 400, "expected one input"),
            (
                client.post(
                    "/v2/models/sentiops/infer",
                    json={"inputs": [{**V2_TEXT, "shape": [1], "parameters": {"binary_data_size": 9}}]},
                    headers={"Inference-Header-Content-Length": "5"},
                ),
                400,
                "not valid JSON",
            ),
        ]
        for response, status, words in cases:
            assert response.status_code == status, response.text
            assert words in response.json()["error"], response.text
        # Only the requested output comes back, in the shape it was asked for.
        one = _infer(client, [[t] for t in TWEETS], outputs=[{"name": "label"}])
        assert one.status_code == 200
        outputs = one.json()["outputs"]
        assert [o["name"] for o in outputs] == ["label"] and outputs[0]["shape"] == [3]


def test_a_three_class_version_answers_three_scores_through_the_protocol(served):
    client, _, challenger = served
    meta = client.get("/v2/models/sentiops").json()
    assert meta["parameters"]["classes"] == ["negative", "positive", "neutral"]
    assert meta["outputs"][2]["shape"] == [-1, 3]
    answer = _infer(client, [NEUTRAL[-1]]).json()
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert answer["model_version"] == challenger
    assert outputs["label"]["data"] == [client.post("/predict", json={"text": NEUTRAL[-1]}).json()["label"]]
    assert outputs["scores"]["shape"] == [1, 3]
    two = _infer(client, [NEUTRAL[-1]], parameters={"view": "binary"}).json()
    assert {o["name"]: o for o in two["outputs"]}["scores"]["parameters"]["classes"] == ["negative", "positive"]
