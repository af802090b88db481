"""What a drift check is: a name, the rows it needs, how it measures its effects (each with the
p-value of its test) from a reference and a batch profile, and how it shows in the history, the
dashboard and the report. `checks/__init__.py` lists them; `monitoring/drift.py` runs the list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from scipy.stats import binomtest

from sentiops.config import Thresholds
from sentiops.version import Profile

Status = Literal["too_few", "ok", "warning", "drift"]
LEVELS: dict[Status, int] = {"too_few": -1, "ok": 0, "warning": 1, "drift": 2}


@dataclass
class Effect:
    """One graded effect of a check: its size, floors and the p-value of its test."""

    check: str
    name: str
    value: float
    warning: float
    drift: float
    p: float
    adjusted_p: float = 1.0

    def grade(self, alpha: float) -> Status:
        if self.adjusted_p >= alpha:
            return "ok"
        if self.value >= self.drift:
            return "drift"
        if self.value >= self.warning:
            return "warning"
        return "ok"


@dataclass
class Inputs:
    """Everything a check may compare: ``performance`` are metrics on the batch's labelled rows
    (when labels exist), ``estimate`` the accuracy estimated without labels (CBPE), ``realized``
    the accuracy on labels that came back from people."""

    reference: Profile
    batch: Profile
    thresholds: Thresholds
    performance: dict[str, Any] | None = None
    estimate: dict[str, float] | None = None
    realized: dict[str, Any] | None = None  # labels that came back for the batch's date (realized.py)


@dataclass
class Measured:
    effects: list[Effect]
    numbers: dict[str, Any]
    message: str


@dataclass(frozen=True)
class Chart:
    """A dashboard trend of one history column; ``lines`` name Thresholds fields to draw."""

    title: str
    column: str
    lines: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Shown:
    """One number of a check's report section: its key in the numbers, a label, a format."""

    key: str
    label: str
    format: str = ".3f"


class DriftCheck:
    """A check: subclasses set the class attributes and implement `rows`, `min_rows` and `measure`."""

    name: ClassVar[str]
    title: ClassVar[str]
    test: ClassVar[str]  # the significance test behind its grade, for the report
    advice: ClassVar[str]  # what to do when it fires
    shown: ClassVar[tuple[Shown, ...]] = ()
    charts: ClassVar[tuple[Chart, ...]] = ()
    # Graded against the model's own holdout even when a production baseline replaces the
    # training reference for the distribution checks (a baseline has no labels).
    against_holdout: ClassVar[bool] = False

    def rows(self, inputs: Inputs) -> int | None:
        """The rows it judges; None when it does not apply (no labels, no estimate)."""
        return inputs.batch.n

    def min_rows(self, t: Thresholds) -> int:
        return t.min_rows_prediction

    def measure(self, inputs: Inputs) -> Measured:
        raise NotImplementedError

    def too_few_numbers(self, inputs: Inputs) -> dict[str, Any]:
        """What it still records when there are too few rows to judge."""
        return {}

    def history(self, numbers: dict[str, Any], batch: Profile) -> dict[str, float]:
        """Its columns of results/drift/history.parquet (NaN where it did not measure)."""
        return {}


def number(numbers: dict[str, Any], key: str) -> float:
    value = numbers.get(key)
    return float(value) if isinstance(value, int | float) else float("nan")


def share_p(count: int, n: int, reference_share: float) -> float:
    """Two-sided exact binomial test of an observed share against a reference share."""
    if n == 0:
        return 1.0
    return float(binomtest(count, n, min(max(reference_share, 1e-6), 1 - 1e-6)).pvalue)
