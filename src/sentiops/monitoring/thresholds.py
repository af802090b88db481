"""Drift thresholds: every default with the reason for it. Kept free of heavy imports
because the settings object (loaded by every command, the API included) embeds it."""

from __future__ import annotations

from pydantic import BaseModel


class Thresholds(BaseModel):
    """Defaults and why (override with SENTIOPS_DRIFT__<NAME>, for example SENTIOPS_DRIFT__P_VALUE=0.001)."""

    # Significance for chi-square and KS. 0.01 keeps false alarms rare across several tests.
    p_value: float = 0.01
    # PSI 0.1 / 0.25: the common credit-risk rule of thumb ("some shift" / "major shift").
    psi_warning: float = 0.1
    psi_drift: float = 0.25
    # JS distance (base 2): 0.05 is about a 5-point move in a 50/50 class split.
    js_warning: float = 0.05
    js_drift: float = 0.1
    # The seed project's rule: alert when one class takes more than this share of a batch.
    majority_share_max: float = 0.75
    # Confidence: mean moves by 0.05 / 0.1; KS statistic 0.1 / 0.2 (a tenth / a fifth of mass moved).
    mean_confidence_warning: float = 0.05
    mean_confidence_drift: float = 0.1
    ks_warning: float = 0.1
    ks_drift: float = 0.2
    # Share of predictions with confidence < 0.6 rising by 10 / 20 points.
    low_confidence_warning: float = 0.1
    low_confidence_drift: float = 0.2
    # Unknown-token share rising by 2 / 5 points (the vocabulary no longer covers the text).
    unknown_warning: float = 0.02
    unknown_drift: float = 0.05
    # Empty or link/mention-only texts rising by 5 / 10 points (bots, spam, a broken feed).
    link_only_warning: float = 0.05
    link_only_drift: float = 0.1
    # Labelled batches: accuracy or macro-F1 below the holdout by 3 / 6 points.
    performance_warning: float = 0.03
    performance_drift: float = 0.06
    # Below this many rows the batch is too small to judge; checks report ok with a note.
    min_rows: int = 100
