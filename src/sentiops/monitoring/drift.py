"""Drift checks of one scored batch against a reference profile (training or production).

Every check returns ok / warning / drift (or too_few when the batch is too small to judge)
with its numbers; the batch status is the worst. Each effect a check grades has its own
significance test, and a check fires only when the effect passes its floor AND its p-value,
corrected with Holm's method for all the tests run that day, is below `p_value`: effect floors
keep large batches from alarming on trivial differences, the tests keep small batches from
alarming on noise, and the correction keeps the day's false-alarm rate at `p_value` whatever
the number of checks. `benchmarks/drift_bench.py` measures the rates. The checks themselves,
one module each, are listed in `monitoring/checks/__init__.py`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sentiops.config import Thresholds
from sentiops.monitoring.checks import CHECKS
from sentiops.monitoring.checks.base import LEVELS, DriftCheck, Inputs, Measured, Status
from sentiops.version import Profile

__all__ = ["LEVELS", "Check", "DriftReport", "Status", "check_batch", "holm", "worst"]


@dataclass
class Check:
    name: str
    status: Status
    numbers: dict[str, Any]
    message: str = ""


@dataclass
class DriftReport:
    status: Status
    checks: list[Check] = field(default_factory=list)
    n: int = 0
    against: str = "training reference"

    def fired(self) -> list[Check]:
        return [c for c in self.checks if c.status in ("warning", "drift")]

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "n": self.n, "against": self.against, "checks": [asdict(c) for c in self.checks]}


def worst(*statuses: Status) -> Status:
    judged = [s for s in statuses if s != "too_few"]
    if not judged:
        return "too_few"
    return max(judged, key=LEVELS.__getitem__)


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down; monotone; capped at 1)."""
    m = len(p_values)
    order = np.argsort(p_values)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


def check_batch(
    reference: Profile,
    batch: Profile,
    t: Thresholds,
    performance: dict[str, Any] | None = None,
    estimate: dict[str, float] | None = None,
    checks: tuple[DriftCheck, ...] = CHECKS,
    realized: dict[str, Any] | None = None,
) -> DriftReport:
    """Compare a batch profile with a reference profile (both from `build_profile`): every check's
    effects and p-values, Holm's correction over the day, then each check's grade.

    ``performance``: metrics on the batch's labelled rows, when labels exist; ``estimate``:
    the accuracy estimated without labels (`evaluation.calibration.estimate_accuracy`).
    """
    inputs = Inputs(reference, batch, t, performance, estimate, realized)
    measured: dict[str, Measured] = {}
    found: list[Check] = []
    for check in checks:
        rows = check.rows(inputs)
        if rows is None:
            continue  # does not apply to this batch
        if rows < check.min_rows(t):
            message = f"{rows} rows < {check.min_rows(t)}: too few to judge"
            found.append(Check(check.name, "too_few", check.too_few_numbers(inputs), message))
            continue
        measured[check.name] = check.measure(inputs)
        found.append(Check(check.name, "ok", measured[check.name].numbers, measured[check.name].message))
    effects = [effect for m in measured.values() for effect in m.effects]
    for effect, adjusted in zip(effects, holm([e.p for e in effects]), strict=True):
        effect.adjusted_p = adjusted
    for result in found:
        if result.name in measured:
            graded = measured[result.name].effects
            result.numbers["holm_p"] = {e.name: e.adjusted_p for e in graded}
            result.status = worst(*(e.grade(t.p_value) for e in graded))
    return DriftReport(worst(*(c.status for c in found)), found, batch.n)
