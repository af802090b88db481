"""Accuracy against the model's holdout: measured on labelled rows, and estimated without labels."""

from __future__ import annotations

from typing import Any

from scipy.stats import binomtest, norm

from sentiops.config import Thresholds
from sentiops.monitoring.checks.base import Chart, DriftCheck, Effect, Inputs, Measured, Shown, number
from sentiops.version import Profile


class EstimatedPerformance(DriftCheck):
    name = "estimated_performance"
    title = "Estimated accuracy (no labels)"
    test = "one-sided z-test: is the estimate (mean calibrated confidence, CBPE) really below the holdout?"
    advice = "Label a sample of the day; if the drop is real, retrain on recent labelled data."
    shown = (
        Shown("estimated_accuracy", "estimated accuracy"),
        Shown("low", "95% interval low"),
        Shown("high", "95% interval high"),
        Shown("holdout_accuracy", "holdout accuracy"),
        Shown("realized_accuracy", "measured accuracy"),
    )
    charts = (Chart("Estimated accuracy (no labels)", "estimated_accuracy"),)
    against_holdout = True

    def rows(self, inputs: Inputs) -> int | None:
        if inputs.estimate is None or inputs.reference.holdout.get("accuracy") is None:
            return None
        return inputs.batch.n

    def measure(self, inputs: Inputs) -> Measured:
        t, estimate = inputs.thresholds, inputs.estimate
        assert estimate is not None  # rows() said it applies
        holdout_accuracy = float(inputs.reference.holdout["accuracy"])
        drop = holdout_accuracy - estimate["estimated_accuracy"]
        p = float(norm.sf(drop / max(estimate["sd"], 1e-9)))
        numbers: dict[str, Any] = {**estimate, "holdout_accuracy": holdout_accuracy, "estimated_drop": drop}
        if inputs.performance is not None:
            numbers["realized_accuracy"] = inputs.performance["accuracy"]
        message = (
            f"estimated accuracy {estimate['estimated_accuracy']:.3f} "
            f"[{estimate['low']:.3f}, {estimate['high']:.3f}] without labels vs holdout {holdout_accuracy:.3f}"
        )
        effect = Effect(self.name, "estimated_drop", drop, t.performance_warning, t.performance_drift, p)
        return Measured([effect], numbers, message)

    def history(self, numbers: dict[str, Any], batch: Profile) -> dict[str, float]:
        return {"estimated_accuracy": number(numbers, "estimated_accuracy")}


class Performance(DriftCheck):
    name = "performance"
    title = "Accuracy on labelled rows"
    test = "one-sided exact binomial test of the correct count against the holdout accuracy"
    advice = "Retrain on recent labelled data (`sentiops retrain`)."
    shown = (
        Shown("accuracy", "accuracy"),
        Shown("holdout_accuracy", "holdout accuracy"),
        Shown("macro_f1", "macro-F1"),
        Shown("labelled_rows", "labelled rows", "d"),
        Shown("p", "binomial p", ".2g"),
    )
    charts = (Chart("Accuracy (labelled days)", "accuracy"),)
    against_holdout = True

    def rows(self, inputs: Inputs) -> int | None:
        return None if inputs.performance is None else int(inputs.performance["n"])

    def min_rows(self, t: Thresholds) -> int:
        return t.min_rows_performance

    def too_few_numbers(self, inputs: Inputs) -> dict[str, Any]:
        assert inputs.performance is not None
        return {"labelled_rows": int(inputs.performance["n"]), "accuracy": inputs.performance["accuracy"]}

    def measure(self, inputs: Inputs) -> Measured:
        performance = inputs.performance
        assert performance is not None
        holdout = inputs.reference.holdout
        labelled = int(performance["n"])
        effects, drops = accuracy_drop_effects(
            self.name, performance["accuracy"], performance["macro_f1"], labelled, holdout, inputs.thresholds
        )
        numbers = {
            "accuracy": performance["accuracy"],
            "macro_f1": performance["macro_f1"],
            "labelled_rows": labelled,
            "holdout_accuracy": holdout.get("accuracy"),
            "holdout_macro_f1": holdout.get("macro_f1"),
            **drops,
        }
        message = f"accuracy {performance['accuracy']:.3f} vs holdout {holdout.get('accuracy', float('nan')):.3f}"
        return Measured(effects, numbers, message)

    def history(self, numbers: dict[str, Any], batch: Profile) -> dict[str, float]:
        return {"accuracy": number(numbers, "accuracy")}


def accuracy_drop_effects(
    check: str, accuracy: float, macro_f1: float, n: int, holdout: dict[str, Any], t: Thresholds
) -> tuple[list[Effect], dict[str, float]]:
    """Accuracy and macro-F1 below the holdout's, both graded by one one-sided exact binomial test
    of the correct count against the holdout accuracy (labelled rows and realized labels alike)."""
    expected = float(holdout.get("accuracy", accuracy))
    drop_acc = expected - accuracy
    drop_f1 = float(holdout.get("macro_f1", macro_f1)) - macro_f1
    p = float(binomtest(round(accuracy * n), n, min(expected, 1 - 1e-6), alternative="less").pvalue)
    effects = [
        Effect(check, "accuracy_drop", drop_acc, t.performance_warning, t.performance_drift, p),
        Effect(check, "macro_f1_drop", drop_f1, t.performance_warning, t.performance_drift, p),
    ]
    return effects, {"accuracy_drop": drop_acc, "macro_f1_drop": drop_f1, "p": p}
