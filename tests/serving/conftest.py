"""Fixtures for the dashboard tests: a registry with scored, drift-checked days and a decision."""

from __future__ import annotations

import pytest

from sentiops.monitoring.check import run_drift_check
from sentiops.scoring import job, runs
from tests.helpers.browser import browser  # noqa: F401
from tests.helpers.data import sample_rows, write_csv
from tests.helpers.serving import make_settings

DATES = ["2026-10-01", "2026-10-02", "2026-10-03"]


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
