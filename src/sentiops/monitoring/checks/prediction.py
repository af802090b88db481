"""Class shares: does the model say "positive" much more or less often than on the reference?"""

from __future__ import annotations

from typing import Any

import numpy as np

from sentiops.monitoring import stats
from sentiops.monitoring.checks.base import Chart, DriftCheck, Effect, Inputs, Measured, Shown, number
from sentiops.version import Profile


class PredictionDrift(DriftCheck):
    name = "prediction_drift"
    title = "Predicted class shares"
    test = "chi-square test of the class counts against the reference shares"
    advice = (
        "Look at the day's tweets: a real change in mood (news, an event), or did the feed change? "
        "If it is the new normal, set a production baseline (`sentiops drift baseline`)."
    )
    shown = (
        Shown("psi", "PSI"),
        Shown("js_distance", "Jensen-Shannon distance"),
        Shown("chi2_p", "chi-square p", ".2g"),
    )
    charts = (
        Chart("Share of positive predictions", "positive_share"),
        Chart("Share of neutral predictions (three-class versions)", "neutral_share"),
        Chart("Prediction PSI", "prediction_psi", {"warning": "psi_warning", "drift": "psi_drift"}),
        Chart("Jensen-Shannon distance of class shares", "js_distance", {"warning": "js_warning", "drift": "js_drift"}),
    )

    def measure(self, inputs: Inputs) -> Measured:
        t, labels = inputs.thresholds, inputs.reference.labels
        ref_shares = np.array([inputs.reference.class_shares[k] for k in labels])
        shares = np.array([inputs.batch.class_shares[k] for k in labels])
        counts = np.array([inputs.batch.class_counts[k] for k in labels])
        p = stats.chi_square_p(ref_shares, counts)
        psi, js = stats.psi(ref_shares, shares), stats.js_distance(ref_shares, shares)
        numbers = {
            "reference_shares": dict(zip(labels, ref_shares.round(4).tolist(), strict=True)),
            "batch_shares": dict(zip(labels, shares.round(4).tolist(), strict=True)),
            "chi2_p": p,
            "psi": psi,
            "js_distance": js,
        }
        effects = [
            Effect(self.name, "psi", psi, t.psi_warning, t.psi_drift, p),
            Effect(self.name, "js_distance", js, t.js_warning, t.js_drift, p),
        ]
        return Measured(effects, numbers, f"class shares {fmt(shares, labels)} vs reference {fmt(ref_shares, labels)}")

    def history(self, numbers: dict[str, Any], batch: Profile) -> dict[str, float]:
        return {
            "positive_share": float(batch.class_shares.get("positive", float("nan"))),
            "neutral_share": float(batch.class_shares.get("neutral", float("nan"))),
            "prediction_psi": number(numbers, "psi"),
            "js_distance": number(numbers, "js_distance"),
        }


def fmt(shares: np.ndarray, labels: list[str]) -> str:
    return "/".join(f"{s:.0%}" for s in shares) + f" ({'/'.join(labels)})"
