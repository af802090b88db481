"""One class takes over the day (a broken feed or a broken model)."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

from sentiops.monitoring.checks.base import DriftCheck, Effect, Inputs, Measured, Shown


class MajorityClass(DriftCheck):
    name = "majority_class"
    title = "Majority class"
    test = "one-sided exact binomial test: is the true share above the limit, not just this batch's?"
    advice = "A broken feed (one account, one topic) or a broken model: read a sample of the day's tweets."
    shown = (Shown("share", "majority share", ".1%"), Shown("limit", "limit", ".0%"), Shown("p", "binomial p", ".2g"))

    def measure(self, inputs: Inputs) -> Measured:
        t, batch, labels = inputs.thresholds, inputs.batch, inputs.reference.labels
        shares = np.array([batch.class_shares[k] for k in labels])
        counts = np.array([batch.class_counts[k] for k in labels])
        majority = float(shares.max())
        top = labels[int(shares.argmax())]
        p = float(binomtest(int(counts.max()), batch.n, t.majority_share_max, alternative="greater").pvalue)
        effect = Effect(self.name, "share_over_limit", majority - t.majority_share_max, 1e-9, 1e-9, p)
        numbers = {"majority_label": top, "share": majority, "limit": t.majority_share_max, "p": p}
        return Measured([effect], numbers, f"{top} is {majority:.1%} of predictions (limit {t.majority_share_max:.0%})")
