"""The drift checks, in report order. Adding one: a module with a `DriftCheck` subclass
(checks/base.py says what it declares) and an entry here; its thresholds go in
`config.Thresholds` (settable as SENTIOPS_DRIFT__<NAME>)."""

from __future__ import annotations

from sentiops.monitoring.checks.base import DriftCheck
from sentiops.monitoring.checks.confidence import ConfidenceDrift
from sentiops.monitoring.checks.inputs import InputDrift
from sentiops.monitoring.checks.majority import MajorityClass
from sentiops.monitoring.checks.performance import EstimatedPerformance, Performance
from sentiops.monitoring.checks.prediction import PredictionDrift
from sentiops.monitoring.checks.realized import RealizedPerformance

CHECKS: tuple[DriftCheck, ...] = (
    PredictionDrift(),
    MajorityClass(),
    ConfidenceDrift(),
    InputDrift(),
    EstimatedPerformance(),
    Performance(),
    RealizedPerformance(),
)
BY_NAME: dict[str, DriftCheck] = {check.name: check for check in CHECKS}
