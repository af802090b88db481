"""A served model on a copy of the prepared volume whose prediction log flushes fast: the fixtures
`data`, `settings` and `client` (import them into a conftest.py), and `predict`, which waits until
the log holds the answers."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from sentiops.serving.app import create_app
from tests.feedback.test_prediction_log import _logged_ids
from tests.helpers.serving import make_settings, wait_for


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


@pytest.fixture
def cli_env(monkeypatch, settings):
    """Commands run in-process (CliRunner) on the same volume and registry as ``settings``."""
    from sentiops.config import get_settings

    monkeypatch.setenv("SENTIOPS_DATA_DIR", str(settings.data))
    monkeypatch.setenv("SENTIOPS_RESULTS_DIR", str(settings.results))
    monkeypatch.setenv("SENTIOPS_REGISTRY_DIR", str(settings.registry))
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()
