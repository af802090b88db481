"""The dashboard's pages over real files: content, empty states, auth, the read-only dashboard app."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient

from sentiops.serving.app import create_app, create_dashboard_app
from tests.helpers.access import ADMIN_TOKEN, API_TOKEN, CALLER, OPERATOR, PASSWORDS, secured, sign_in
from tests.helpers.serving import make_settings, wait_ready
from tests.serving.conftest import DATES


def test_every_page_shows_what_the_files_hold(history):
    with TestClient(create_app(history)) as client:
        wait_ready(client)
        client.post("/predict", json={"text": "what a lovely day"})
        overview = client.get("/ui").text
        assert "production: version 1" in overview and "first model" in overview
        assert "requests since start" in overview and "predicted classes" in overview
        versions = client.get("/ui/versions").text
        assert 'id="version-1"' in versions and ">ok<" in versions and "validation_confusion.png" in versions
        assert "<td>negative / positive</td>" in versions  # the version's classes
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


def test_the_dashboard_is_for_people_not_api_callers(registry_dir, tmp_path):
    settings = secured(make_settings(registry_dir), tmp_path / "secrets")
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        assert client.get("/ui").status_code == 401
        assert client.get("/ui", headers=CALLER).status_code == 401  # the prediction token shows no tweets
        assert client.get("/ui", headers=OPERATOR).status_code == 200
        assert client.get("/ui", auth=("bob", PASSWORDS["bob"])).status_code == 200
        assert sign_in(client, "", "wrong").status_code == 401
        assert sign_in(client, "", API_TOKEN).status_code == 401  # not a credential for people
        signed_in = sign_in(client, "")
        assert signed_in.status_code == 303 and "httponly" in signed_in.headers["set-cookie"].lower()
        assert client.get("/ui/versions").status_code == 200  # the cookie now
        assert client.post("/admin/reload").status_code == 200  # the operator's session opens admin routes
        client.cookies.clear()
        sign_in(client, "ada")
        assert client.get("/ui/versions").status_code == 200
        assert client.post("/admin/reload").status_code == 403  # a labeller is no operator
        assert client.post("/admin/reload", headers=CALLER).status_code == 403


def test_the_versions_page_sees_a_changed_model_file(registry_dir, registry):
    from sentiops.serving import ui_data

    settings = make_settings(registry_dir)
    assert ui_data.versions(settings)[0]["checksums"] == "ok"
    target = registry.path("1") / "model.int8.onnx"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))  # CHECKSUMS itself unchanged
    assert ui_data.versions(settings)[0]["checksums"].startswith("FAILED")


def test_the_session_cookie_is_signed_expiring_and_never_the_token(registry_dir, tmp_path):
    settings = make_settings(registry_dir, ui_session_hours=1 / 3600)  # 1 s
    settings = secured(settings, tmp_path / "secrets")
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        cookie = sign_in(client, "").headers["set-cookie"]
        assert ADMIN_TOKEN not in cookie and "max-age=1" in cookie.lower() and "secure" not in cookie.lower()
        assert client.get("/ui").status_code == 200
        value = client.cookies.get("sentiops_session")
        body, signature = value.rsplit(".", 1)
        forged = body + "." + ("B" if signature[0] != "B" else "C") + signature[1:]
        client.cookies.clear()
        client.cookies.set("sentiops_session", forged)
        assert client.get("/ui").status_code == 401  # a changed byte is a forged session
        client.cookies.clear()
        client.cookies.set("sentiops_session", value)
        assert client.get("/ui").status_code == 200
        time.sleep(2.1)
        assert client.get("/ui").status_code == 401  # expired


def test_logout_ends_the_session_and_secure_is_a_setting(registry_dir, tmp_path):
    settings = secured(make_settings(registry_dir, ui_cookie_secure=True), tmp_path / "secrets")
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        wait_ready(client)
        assert "secure" in sign_in(client, "").headers["set-cookie"].lower()
        assert client.get("/ui").status_code == 200
        out = client.get("/ui/logout", follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/ui/login"
        assert client.get("/ui").status_code == 401


def test_every_dashboard_page_has_the_security_headers(history):
    with TestClient(create_app(history)) as client:
        wait_ready(client)
        for path in (
            "/ui",
            "/ui/versions",
            "/ui/drift",
            "/ui/retraining",
            "/ui/try",
            "/ui/login",
            f"/ui/drift/{DATES[0]}/report",
            "/ui/static/try.js",
        ):
            headers = client.get(path).headers
            assert "frame-ancestors 'none'" in headers["content-security-policy"], path
            assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff", path
        assert client.get("/favicon.ico").status_code == 204  # browsers ask for it: no 404 in their consoles
