"""Is the model less sure than usual? Mean confidence, its distribution, the low-confidence share."""

from __future__ import annotations

from typing import Any

import numpy as np

from sentiops.monitoring import stats
from sentiops.monitoring.checks.base import Chart, DriftCheck, Effect, Inputs, Measured, Shown, number, share_p
from sentiops.version import Profile


class ConfidenceDrift(DriftCheck):
    name = "confidence_drift"
    title = "Confidence"
    test = "two-sample KS test of confidences; exact binomial test of the low-confidence share (< 0.6)"
    advice = "New vocabulary or topics the model has not seen: label a sample of the day and compare."
    shown = (
        Shown("mean_confidence", "mean confidence"),
        Shown("reference_mean_confidence", "reference mean"),
        Shown("ks_statistic", "KS statistic"),
        Shown("low_confidence_change", "low-confidence share change", "+.3f"),
        Shown("ks_p", "KS p", ".2g"),
    )
    charts = (
        Chart("Mean confidence", "mean_confidence"),
        Chart("Confidence KS statistic", "confidence_ks", {"warning": "ks_warning", "drift": "ks_drift"}),
    )

    def measure(self, inputs: Inputs) -> Measured:
        t, batch, reference = inputs.thresholds, inputs.batch, inputs.reference
        n = batch.n
        delta_mean = batch.mean_confidence - reference.mean_confidence
        ks_stat, ks_p = stats.ks(np.array(reference.confidence_sample), np.array(batch.confidence_sample))
        delta_low = batch.low_confidence_share - reference.low_confidence_share
        low_p = share_p(round(batch.low_confidence_share * n), n, reference.low_confidence_share)
        effects = [
            Effect(self.name, "mean_change", abs(delta_mean), t.mean_confidence_warning, t.mean_confidence_drift, ks_p),
            Effect(self.name, "ks_statistic", ks_stat, t.ks_warning, t.ks_drift, ks_p),
            Effect(
                self.name, "low_confidence_change", delta_low, t.low_confidence_warning, t.low_confidence_drift, low_p
            ),
        ]
        numbers = {
            "mean_confidence": batch.mean_confidence,
            "reference_mean_confidence": reference.mean_confidence,
            "mean_change": delta_mean,
            "ks_statistic": ks_stat,
            "ks_p": ks_p,
            "low_confidence_share": batch.low_confidence_share,
            "low_confidence_change": delta_low,
            "low_confidence_p": low_p,
        }
        message = f"mean confidence {batch.mean_confidence:.3f} vs {reference.mean_confidence:.3f}, KS {ks_stat:.3f}"
        return Measured(effects, numbers, message)

    def history(self, numbers: dict[str, Any], batch: Profile) -> dict[str, float]:
        return {"mean_confidence": float(batch.mean_confidence), "confidence_ks": number(numbers, "ks_statistic")}
