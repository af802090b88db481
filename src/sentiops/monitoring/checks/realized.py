"""Accuracy on the labels that came back for the date's predictions (API and batch)."""

from __future__ import annotations

from typing import Any

from sentiops.config import Thresholds
from sentiops.monitoring.checks.base import Chart, DriftCheck, Inputs, Measured, Shown, number
from sentiops.monitoring.checks.performance import accuracy_drop_effects
from sentiops.version import Profile


class RealizedPerformance(DriftCheck):
    name = "realized_performance"
    title = "Realized accuracy (labels that came back)"
    test = (
        "one-sided exact binomial test of the correct count of the randomly picked labels against the "
        "holdout accuracy; labels picked for another reason are reported, not graded (they are biased)"
    )
    advice = "The model is wrong more often on today's traffic than on its holdout: retrain on the new labels."
    shown = (
        Shown("random_accuracy", "accuracy (random labels, unbiased)"),
        Shown("random_low", "95% interval low"),
        Shown("random_high", "95% interval high"),
        Shown("random_n", "random labels", "d"),
        Shown("all_accuracy", "accuracy (every label)"),
        Shown("all_n", "labels", "d"),
        Shown("holdout_accuracy", "holdout accuracy"),
    )
    charts = (Chart("Realized accuracy (labels)", "realized_accuracy"),)
    against_holdout = True

    def rows(self, inputs: Inputs) -> int | None:
        return None if inputs.realized is None else int(inputs.realized.get("random_n", 0))

    def min_rows(self, t: Thresholds) -> int:
        return t.min_rows_realized

    def too_few_numbers(self, inputs: Inputs) -> dict[str, Any]:
        return self._numbers(inputs)

    def _numbers(self, inputs: Inputs) -> dict[str, Any]:
        assert inputs.realized is not None
        return {**inputs.realized, "holdout_accuracy": inputs.reference.holdout.get("accuracy")}

    def measure(self, inputs: Inputs) -> Measured:
        numbers = self._numbers(inputs)
        holdout = inputs.reference.holdout
        accuracy, n = float(numbers["random_accuracy"]), int(numbers["random_n"])
        expected = float(holdout.get("accuracy", accuracy))
        effects, drops = accuracy_drop_effects(
            self.name, accuracy, float(numbers["random_macro_f1"]), n, holdout, inputs.thresholds
        )
        numbers.update(drops)
        message = (
            f"accuracy {accuracy:.3f} [{numbers['random_low']:.3f}, {numbers['random_high']:.3f}] on {n} random "
            f"labels ({numbers['all_n']} in all) vs holdout {expected:.3f}"
        )
        return Measured(effects, numbers, message)

    def history(self, numbers: dict[str, Any], batch: Profile) -> dict[str, float]:
        # The unbiased figure: randomly picked labels only (the queue's uncertain and drift picks
        # are harder than the day's average); every label beside it.
        return {
            "realized_accuracy": number(numbers, "random_accuracy"),
            "realized_labels": number(numbers, "random_n"),
            "realized_all_accuracy": number(numbers, "all_accuracy"),
            "realized_all_labels": number(numbers, "all_n"),
        }
