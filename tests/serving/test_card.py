"""Model cards: written at packaging into the version (covered by its checksums), shown by the CLI,
GET /model/card and the Versions page; a version from before cards is carded from its files with
its missing numbers said as missing; a retrained three-class version's card carries people's
labels, its gate decision and the drift status before its promotion."""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sentiops.card import model_card, render
from sentiops.cli import app
from sentiops.config import get_settings
from sentiops.registry import Registry, RegistryError
from sentiops.serving.app import create_app
from sentiops.version import CARD_FILE, METRICS_FILE
from tests.helpers.serving import clone_version, make_settings, wait_ready


def test_packaging_writes_the_card_into_the_version_under_its_checksums(registry):
    folder = registry.path("1")
    stored = json.loads((folder / CARD_FILE).read_text())
    assert CARD_FILE in (folder / "CHECKSUMS").read_text()
    metrics = json.loads((folder / METRICS_FILE).read_text())
    holdout = stored["evaluation"]["holdout"]
    assert holdout["n"] == metrics["holdout"]["n"] and holdout["accuracy"] == metrics["holdout"]["accuracy"]
    for name in ("accuracy", "macro_f1"):
        low, high = holdout[f"{name}_interval"]
        assert low < holdout[name] < high and high - low < 0.3  # 150 rows: wide, but an interval
    assert holdout["recall"] == {c: s["recall"] for c, s in metrics["holdout"]["per_class"].items()}
    assert stored["calibration"]["ece_before"] == metrics["calibration"]["ece_before"]
    assert stored["written"] == "at packaging"
    assert stored["data"]["sources"] == {"emoticon rows (Sentiment140, distant labels)": 2400}
    assert any(limit.startswith("binary: no neutral") for limit in stored["limits"])
    assert any("people's labels" in limit for limit in stored["limits"])
    # An edited card fails the version's verification like any other file.
    (folder / CARD_FILE).write_text(json.dumps({**stored, "limits": []}))
    with pytest.raises(RegistryError):
        registry.verify("1")


def _first_release(folder):
    """A version as the first release wrote it: no card, labels map, calibration or engine table."""
    (folder / CARD_FILE).unlink()
    (folder / "labels.json").unlink()
    metrics = json.loads((folder / METRICS_FILE).read_text())
    for key in ("calibration", "backends", "parity"):
        metrics.pop(key, None)
    for split in ("validation", "holdout"):
        metrics[split].pop("macro_recall", None)
    (folder / METRICS_FILE).write_text(json.dumps(metrics))


def test_a_version_from_before_cards_is_carded_with_its_missing_numbers_said(registry):
    old = clone_version(registry, "1", edit=_first_release)
    card = model_card(registry, old)
    assert card["written"].startswith("at render")
    holdout = card["evaluation"]["holdout"]
    low, high = holdout["accuracy_interval"]
    assert low < holdout["accuracy"] < high and holdout["interval_method"] == "Wilson (accuracy)"
    assert holdout["macro_f1_interval"] == "missing" and holdout["macro_recall"] == "missing"
    assert card["calibration"] == "missing"
    assert card["promotion"] == {"status": "never promoted to production"}
    markdown = render(card, "md")
    assert "| macro_f1_interval | missing |" in markdown and "| calibration | missing |" in markdown
    page = render(card, "html")
    assert "<td>missing</td>" in page and page.startswith("<!doctype html>")
    assert json.loads(render(card, "json"))["version"] == old


def test_a_retrained_three_class_versions_card_has_peoples_labels_and_its_promotion(tmp_path, three_class_home):
    root, decision = three_class_home
    shutil.copytree(root / "registry", tmp_path / "registry")
    registry = Registry(tmp_path / "registry")
    version = decision.challenger
    card = model_card(registry, version)
    assert card["model"]["classes"] == ["negative", "positive", "neutral"]
    assert card["model"]["parent_version"] == "1"
    assert not any(limit.startswith("binary") for limit in card["limits"])
    newest = card["evaluation"]["newest"]
    assert newest["labels"].startswith("people's labels") and "neutral" in newest["recall"]
    assert isinstance(newest["macro_f1_interval"], list)
    sources = card["data"]["sources"]
    assert sources["people's labels (trusted)"] > 0
    window = card["data"]["people_labels_window"]
    assert window["first"] <= window["last"]
    gate = card["promotion"]["gate"]
    assert gate["action"] == decision.action == "promoted" and gate["champion"] == "1"
    assert gate["n"] == decision.numbers["paired"]["n"]
    assert card["drift_at_promotion"] == "missing"  # no results folder given: not known here


def test_the_drift_status_before_the_promotion_is_on_the_card(history):
    registry = Registry(history.registry)
    card = model_card(registry, "1", history.results)
    # history: days 2026-10-01..03 checked for version 1, promoted (first model) when the test ran
    assert card["drift_at_promotion"]["date"] == "2026-10-03"
    assert card["drift_at_promotion"]["status"] in ("ok", "warning", "drift", "insufficient")


def test_the_cli_route_and_page_show_the_card(registry_dir, monkeypatch):
    monkeypatch.setenv("SENTIOPS_REGISTRY_DIR", str(registry_dir))
    monkeypatch.setenv("SENTIOPS_HOME", str(registry_dir.parent / "home"))
    get_settings.cache_clear()
    runner = CliRunner()
    shown = runner.invoke(app, ["models", "card", "1", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["version"] == "1"
    assert "# Model card: sentiops version 1" in runner.invoke(app, ["models", "card"]).output
    assert runner.invoke(app, ["models", "card", "1", "--format", "pdf"]).exit_code != 0
    assert runner.invoke(app, ["models", "card", "7"]).exit_code != 0
    with TestClient(create_app(make_settings(registry_dir))) as client:
        wait_ready(client)
        assert client.get("/model/card").json()["version"] == "1"
        markdown = client.get("/model/card", params={"format": "md"})
        assert markdown.headers["content-type"].startswith("text/markdown") and "## Known limits" in markdown.text
        assert client.get("/model/card", params={"format": "pdf"}).status_code == 422
        assert 'href="/ui/versions/1/card"' in client.get("/ui/versions").text
        page = client.get("/ui/versions/1/card")
        assert page.status_code == 200 and "Known limits" in page.text and "binary: no neutral" in page.text
        assert client.get("/ui/versions/9/card").status_code == 404
    get_settings.cache_clear()
