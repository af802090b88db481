"""The dashboard and the daily drift report in a real browser: Debian's Chromium driven by
Playwright. Every page is visited on a live server; content is asserted and the console must
stay free of errors. Screenshots go to SENTIOPS_SCREENSHOTS (docs/ via `make screenshots`)."""

from __future__ import annotations

import os
from pathlib import Path

from sentiops.serving.app import create_app
from tests.helpers.access import ADMIN_TOKEN, API_TOKEN, secured
from tests.helpers.browser import watch_console
from tests.helpers.serving import live_server
from tests.serving.conftest import DATES

PAGES = {
    "overview": ("/ui", "production: version 1"),
    "versions": ("/ui/versions", "Alias history"),
    "drift": ("/ui/drift", "Days"),
    "retraining": ("/ui/retraining", "rejected"),
    "label": ("/ui/label", "Keys:"),
    "try": ("/ui/try", "Predict"),
}


def test_every_page_renders_in_a_browser_without_console_errors(history, browser, tmp_path):
    shots = Path(os.environ.get("SENTIOPS_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with live_server(create_app(history)) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = watch_console(page)
        for name, (path, expected) in PAGES.items():
            response = page.goto(base + path)
            assert response is not None and response.status == 200, path
            assert expected in page.inner_text("main"), name
            page.screenshot(path=str(shots / f"ui-{name}.png"), full_page=True)

        page.goto(base + "/ui/drift")
        assert page.locator("figure.chart").first.locator("circle.point").count() == len(DATES)
        assert page.locator("#days tr").count() == len(DATES) + 1

        page.goto(base + "/ui/try")
        page.fill("#text", "I love this so much, best day ever!")
        page.click("button[type=submit]")
        page.wait_for_selector("#result:not([hidden])")
        assert page.inner_text("#label") in ("positive", "negative")
        assert 0.5 <= float(page.inner_text("#confidence")) <= 1.0
        assert page.inner_text("#scores").startswith("negative 0.")  # one score per class of the version
        assert page.inner_text("#version") == "1"
        page.screenshot(path=str(shots / "ui-try-result.png"), full_page=True)
        assert errors == []


def test_the_daily_drift_report_renders_without_console_errors(history, browser):
    report = history.results / "drift" / f"date={DATES[-1]}" / "report.html"
    page = browser.new_page()
    errors = watch_console(page)
    page.goto(report.as_uri())
    assert "Overall status" in page.inner_text("body")
    assert page.locator("svg").count() >= 3  # the charts are inline SVG
    assert errors == []


def test_signing_in_and_out_in_a_browser_under_the_content_security_policy(history, browser, tmp_path):
    settings = secured(history, tmp_path / "secrets")
    with live_server(create_app(settings)) as base:
        page = browser.new_page()
        errors = watch_console(page)
        assert page.goto(base + "/ui").status == 401
        page.goto(base + "/ui/login")
        page.fill("input[name=password]", ADMIN_TOKEN)  # an operator: no name, the operator token
        page.click("button[type=submit]")
        page.wait_for_url(base + "/ui")
        assert "production: version 1" in page.inner_text("main")
        assert page.evaluate("document.cookie") == ""  # HttpOnly: no script can read the session
        (cookie,) = page.context.cookies()
        assert cookie["name"] == "sentiops_session" and ADMIN_TOKEN not in cookie["value"]
        page.goto(base + "/ui/try")  # its script is a file of the app: allowed by the policy
        page.fill("#token", API_TOKEN)  # predictions take the API callers' token
        page.fill("#text", "what a wonderful morning")
        page.click("button[type=submit]")
        page.wait_for_selector("#result:not([hidden])")
        page.click("a.logout")
        page.wait_for_url(base + "/ui/login")
        assert page.goto(base + "/ui/versions").status == 401
        assert [e for e in errors if "401" not in e] == []  # the refused pages log their 401s, nothing else
