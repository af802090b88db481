"""A served model with traffic in its prediction log, a scored batch day, and a queue over them."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from sentiops.serving.app import create_app
from tests.feedback.test_prediction_log import _logged_ids
from tests.helpers.data import sample_rows
from tests.helpers.serving import make_settings, wait_for

TWEETS = [text for _, text in sample_rows(7000)[6600:6800]]


@pytest.fixture
def data(tmp_path, prepared_data):
    folder = tmp_path / "data"
    shutil.copytree(prepared_data, folder)
    return folder


@pytest.fixture
def settings(tmp_path, registry_dir, data):
    return make_settings(
        registry_dir,
        data_dir=data,
        results_dir=tmp_path / "results",
        prediction_log_flush_seconds=0.05,
        backend="ort-int8",
    )


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        yield client


def predict(client, settings, texts):
    answers = [client.post("/predict", json={"text": t}).json() for t in texts]
    wait_for(lambda: {a["prediction_id"] for a in answers} <= set(_logged_ids(settings.results)))
    return answers
