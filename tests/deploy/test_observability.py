"""Grafana dashboard and Prometheus alert rules: valid (promtool), the two rule files agree, and
every metric they use is one the API exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml
from fastapi.testclient import TestClient

from sentiops.serving.app import create_app
from tests.helpers.data import REPO
from tests.helpers.serving import make_settings, wait_ready

OBSERVABILITY = REPO / "deploy" / "observability"
RULES = OBSERVABILITY / "prometheus-rules.yaml"
OPERATOR_RULES = OBSERVABILITY / "prometheusrule.yaml"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"


def _exprs() -> list[str]:
    rules = [r["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for r in group["rules"]]
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return rules + [t["expr"] for panel in panels for t in panel["targets"]]


def test_promtool_accepts_both_rule_files(tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make test` installs it (Debian package prometheus)"
    spec = yaml.safe_load(OPERATOR_RULES.read_text())["spec"]
    extracted = tmp_path / "operator-rules.yaml"
    extracted.write_text(yaml.safe_dump(spec))
    for path in (RULES, extracted):
        done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "6 rules found" in done.stdout


def test_the_operator_rules_are_the_plain_rules():
    assert yaml.safe_load(OPERATOR_RULES.read_text())["spec"] == yaml.safe_load(RULES.read_text())
    assert yaml.safe_load(OPERATOR_RULES.read_text())["kind"] == "PrometheusRule"


@pytest.mark.parametrize(
    "alert",
    [
        "SentiopsHighErrorRatio",
        "SentiopsHighLatencyP99",
        "SentiopsNotReady",
        "SentiopsLabelShareDrift",
        "SentiopsReloadFailures",
    ],
)
def test_the_alerts_the_service_needs_are_there(alert):
    names = [r["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for r in group["rules"]]
    assert alert in names


def test_every_metric_used_is_exported(registry_dir):
    used = {name for expr in _exprs() for name in re.findall(r"\bsentiops_[a-z_]+", expr)}
    with TestClient(create_app(make_settings(registry_dir))) as client:
        wait_ready(client)
        client.post("/predict", json={"text": "what a lovely day"})
        client.post("/admin/reload")  # 403 without a token: still a counted request
        exported = client.get("/metrics").text
    missing = sorted(name for name in used if not re.search(rf"^{name}[{{ ]", exported, re.MULTILINE))
    assert missing == []
    assert len(used) >= 10


def test_the_dashboard_covers_what_operators_look_at():
    titles = " ".join(panel["title"].lower() for panel in json.loads(DASHBOARD.read_text())["panels"])
    for topic in ("requests", "latency", "status", "micro-batch", "neutral", "confidence", "model version", "reloads"):
        assert topic in titles, topic
