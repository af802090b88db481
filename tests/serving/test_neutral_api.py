"""A three-class version serves neutral with three scores; `view` asks for two classes, or refuses
(422) a three-class view a binary version cannot give; a rollback across label sets reloads cleanly."""

from __future__ import annotations

import shutil
import time

import pytest
from fastapi.testclient import TestClient

from sentiops.serving.app import create_app
from tests.helpers.neutral import NEUTRAL
from tests.helpers.serving import make_settings, wait_ready

TEXTS = [NEUTRAL[-1], "i love this so much, best day ever", "worst day ever, i hate it"]


def _wait_for_version(client, version: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while client.get("/model").json().get("version") != version:
        assert time.time() < deadline, "the service never reloaded"
        time.sleep(0.1)


def test_a_three_class_version_answers_neutral_and_the_binary_view_folds_it(served):
    client, _, version = served
    assert client.get("/model").json()["labels"] == ["negative", "positive", "neutral"]
    body = client.post("/predict", json={"text": NEUTRAL[-1]}).json()
    assert body["model_version"] == version and body["label"] == "neutral"
    assert set(body["scores"]) == {"negative", "positive", "neutral"}
    assert sum(body["scores"].values()) == pytest.approx(1, abs=1e-5)
    two = client.post("/predict", json={"text": NEUTRAL[-1], "view": "binary"}).json()
    assert set(two["scores"]) == {"negative", "positive"} and two["label"] in ("negative", "positive")
    scores = body["scores"]
    assert two["scores"]["positive"] == pytest.approx(scores["positive"] / (scores["positive"] + scores["negative"]))
    batch = client.post("/predict/batch", json={"texts": TEXTS, "view": "three-class"}).json()
    assert [set(p["scores"]) for p in batch["predictions"]] == [{"negative", "positive", "neutral"}] * 3
    bad = client.post("/predict", json={"text": "hi", "view": "five-star"})
    assert bad.status_code == 422


def test_a_rollback_to_the_binary_version_reloads_and_refuses_a_three_class_view(served):
    client, registry, _ = served
    assert registry.rollback() == "1"
    _wait_for_version(client, "1")
    body = client.post("/predict", json={"text": NEUTRAL[-1]}).json()
    assert set(body["scores"]) == {"negative", "positive"} and body["model_version"] == "1"
    refused = client.post("/predict", json={"text": NEUTRAL[-1], "view": "three-class"})
    assert refused.status_code == 422
    assert "answers negative, positive only" in refused.json()["detail"]
    # And forward again: the three-class version comes back with its three scores.
    registry.set_alias("production", "2", reason="forward again")
    _wait_for_version(client, "2")
    assert set(client.post("/predict", json={"text": "hello"}).json()["scores"]) == {"negative", "positive", "neutral"}


def test_the_default_view_is_a_setting(tmp_path, three_class_home):
    root, _ = three_class_home
    shutil.copytree(root / "registry", tmp_path / "registry")
    with TestClient(create_app(make_settings(tmp_path / "registry", predict_view="binary"))) as client:
        wait_ready(client)
        answers = client.post("/predict/batch", json={"texts": TEXTS}).json()["predictions"]
        assert all(set(p["scores"]) == {"negative", "positive"} for p in answers)
        own = client.post("/predict", json={"text": NEUTRAL[-1], "view": "model"}).json()
        assert own["label"] == "neutral"
