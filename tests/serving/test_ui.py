"""The dashboard's pages over real files: content, empty states, auth, the read-only dashboard app."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from sentiops.serving.app import create_app, create_dashboard_app
from tests.helpers.serving import make_settings, wait_ready
from tests.serving.conftest import DATES


def test_every_page_shows_what_the_files_hold(history):
    with TestClient(create_app(history)) as client:
        wait_ready(client)
        client.post("/predict", json={"text": "what a lovely day"})
        overview = client.get("/ui").text
        assert "production: version 1" in overview and "first model" in overview
        assert "requests since start" in overview and "share of positive predictions" in overview
        versions = client.get("/ui/versions").text
        assert 'id="version-1"' in versions and ">ok<" in versions and "validation_confusion.png" in versions
        assert client.get("/ui/versions/1/validation_confusion.png").headers["content-type"] == "image/png"
        assert client.get("/ui/versions/1/metrics.json").status_code == 404  # plots only
        drift = client.get("/ui/drift").text
        first_chart = drift.split('<figure class="chart"')[1]
        assert len(re.findall(r'<circle class="point"', first_chart)) == len(DATES)  # one point per day
        assert all(f'href="/ui/drift/{date}/report"' in drift for date in DATES)
        assert "<html" in client.get(f"/ui/drift/{DATES[0]}/report").text
        retraining = client.get("/ui/retraining").text
        assert retraining.count('class="decision"') == 1 and "is not above" in retraining
        assert 'id="try"' in client.get("/ui/try").text


def test_empty_states_say_what_to_run_next(tmp_path):
    settings = make_settings(tmp_path / "empty-registry", results_dir=tmp_path / "results")
    with TestClient(create_dashboard_app(settings)) as client:
        assert "sentiops train --promote" in client.get("/ui").text
        assert "sentiops batch run --simulate" in client.get("/ui/drift").text
        assert "sentiops retrain" in client.get("/ui/retraining").text
        assert "sentiops serve" in client.get("/ui/try").text
        assert client.get("/", follow_redirects=False).headers["location"] == "/ui"


def test_the_dashboard_needs_the_same_token_as_predictions(registry_dir, tmp_path):
    settings = make_settings(registry_dir, api_token="ui-token-123")
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        assert client.get("/ui").status_code == 401
        assert client.get("/ui", headers={"authorization": "Bearer ui-token-123"}).status_code == 200
        assert client.post("/ui/login", data={"token": "wrong"}).status_code == 401
        signed_in = client.post("/ui/login", data={"token": "ui-token-123"}, follow_redirects=False)
        assert signed_in.status_code == 303 and "httponly" in signed_in.headers["set-cookie"].lower()
        assert client.get("/ui/versions").status_code == 200  # the cookie now


def test_the_versions_page_sees_a_changed_model_file(registry_dir, registry):
    from sentiops.serving import ui_data

    settings = make_settings(registry_dir)
    assert ui_data.versions(settings)[0]["checksums"] == "ok"
    target = registry.path("1") / "model.int8.onnx"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))  # CHECKSUMS itself unchanged
    assert ui_data.versions(settings)[0]["checksums"].startswith("FAILED")
