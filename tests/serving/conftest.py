"""Fixtures for the serving tests: a three-class service; a registry with scored, checked days and a decision."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from sentiops.monitoring.check import run_drift_check
from sentiops.registry import Registry
from sentiops.scoring import job, runs
from sentiops.serving.app import create_app
from tests.helpers.browser import browser  # noqa: F401
from tests.helpers.data import sample_rows, write_csv
from tests.helpers.serving import make_settings, wait_ready

DATES = ["2026-10-01", "2026-10-02", "2026-10-03"]


@pytest.fixture
def served(tmp_path, three_class_home):
    """A client of the service over a copy of the three-class home (binary 1, three-class production),
    the registry and the three-class version."""
    root, decision = three_class_home
    registry_dir = tmp_path / "registry"
    shutil.copytree(root / "registry", registry_dir)
    with TestClient(create_app(make_settings(registry_dir))) as client:
        wait_ready(client)
        yield client, Registry(registry_dir), decision.challenger


@pytest.fixture
def history(tmp_path, registry_dir, registry):
    settings = make_settings(registry_dir, results_dir=tmp_path / "results", backend="ort-int8")
    rows = sample_rows()[6000:6600]
    for i, date in enumerate(DATES):
        job.run_batch(
            settings, runs.BatchOptions([write_csv(tmp_path / f"{date}.csv", rows[i * 200 : i * 200 + 200])], date)
        )
        run_drift_check(settings, date, notify=False)
    registry.log_decision(
        {
            "challenger": "2",
            "champion": "1",
            "action": "rejected",
            "reasons": ["accuracy difference +0.0000 is not above 0.0"],
            "numbers": {"paired": {"difference": 0.0, "interval": [-0.01, 0.01], "n": 300}},
        }
    )
    return settings
