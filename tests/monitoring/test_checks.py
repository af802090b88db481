"""Drift checks are one list: each check declares itself, and history, report and dashboard loop over it."""

from __future__ import annotations

from typing import Any

import numpy as np

from sentiops.config import Thresholds
from sentiops.monitoring import report as html_report
from sentiops.monitoring.checks import CHECKS
from sentiops.monitoring.checks.base import DriftCheck, Effect, Inputs, Measured, Shown
from sentiops.monitoring.drift import check_batch
from sentiops.monitoring.profile import build_profile


def _profile(n: int, positive_share: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    positive = rng.random(n) < positive_share
    confidence = rng.uniform(0.55, 0.99, n)
    probs = np.stack(
        [np.where(positive, 1 - confidence, confidence), np.where(positive, confidence, 1 - confidence)], 1
    )
    tokens = rng.integers(5, 40, n)
    return build_profile(["a tweet"] * n, probs, tokens, np.zeros(n, int), ["negative", "positive"])


class AlwaysFires(DriftCheck):
    name = "always_fires"
    title = "A check added in one place"
    test = "none"
    advice = "Nothing: it is a test."
    shown = (Shown("size", "effect size"),)

    def measure(self, inputs: Inputs) -> Measured:
        return Measured([Effect(self.name, "size", 1.0, 0.1, 0.5, 1e-12)], {"size": 1.0}, "always")

    def history(self, numbers: dict[str, Any], batch: Any) -> dict[str, float]:
        return {"always_size": float(numbers.get("size", float("nan")))}


def test_every_check_has_a_unique_name_its_test_and_what_to_do():
    names = [check.name for check in CHECKS]
    assert len(names) == len(set(names))
    assert all(check.title and check.test and check.advice for check in CHECKS)
    fields = set(Thresholds.model_fields)
    assert all(line in fields for check in CHECKS for chart in check.charts for line in chart.lines.values())


def test_a_check_added_to_the_list_is_graded_and_joins_the_holm_family():
    reference, batch = _profile(2000, 0.5, 1), _profile(1000, 0.5, 2)
    alone = check_batch(reference, batch, Thresholds())
    extra: tuple[DriftCheck, ...] = (*CHECKS, AlwaysFires())
    report = check_batch(reference, batch, Thresholds(), checks=extra)
    assert [c.name for c in report.checks] == [c.name for c in alone.checks] + ["always_fires"]
    fired = report.checks[-1]
    assert fired.status == "drift" and report.status == "drift"
    # one more test in the day's family: every other adjusted p-value can only grow
    for before, after in zip(alone.checks, report.checks, strict=False):
        for effect, p in before.numbers.get("holm_p", {}).items():
            assert after.numbers["holm_p"][effect] >= p


def test_checks_without_enough_rows_say_too_few():
    report = check_batch(_profile(2000, 0.5, 1), _profile(150, 0.5, 2), Thresholds())
    statuses = {c.name: c.status for c in report.checks}
    assert statuses["input_drift"] == "too_few"  # needs 200 rows
    assert statuses["prediction_drift"] != "too_few"  # needs 100


def test_the_report_shows_named_rounded_numbers_per_check_not_dicts():
    import pyarrow as pa

    reference, batch = _profile(2000, 0.5, 1), _profile(1000, 0.8, 2)
    report = check_batch(reference, batch, Thresholds())
    page = html_report.render("2026-11-01", "1", report, reference, batch, pa.table({"date": ["2026-11-01"]}))
    assert "holm_p={" not in page and "{'" not in page
    for check in report.checks:
        assert f'<section id="{check.name}">' in page
    assert "<th>PSI</th>" in page and "When it fires:</b> Look at the day" in page  # it fired: the advice is bold
    assert "chi-square test of the class counts" in page
