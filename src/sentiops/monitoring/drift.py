"""Drift checks of one scored batch against the model's reference profile.

Every check returns ok / warning / drift with its numbers; the batch status is the worst.
Statistical tests alone alert on trivial differences once batches are large, so each test
is paired with an effect-size floor: a check fires only when the p-value is small AND the
effect is big enough to matter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from sentiops.config import Thresholds
from sentiops.monitoring import stats
from sentiops.monitoring.profile import Profile

Status = Literal["ok", "warning", "drift"]
LEVELS: dict[Status, int] = {"ok": 0, "warning": 1, "drift": 2}


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

    def fired(self) -> list[Check]:
        return [c for c in self.checks if c.status != "ok"]

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "n": self.n, "checks": [asdict(c) for c in self.checks]}


def _grade(value: float, warning: float, drift: float, significant: bool = True) -> Status:
    if not significant:
        return "ok"
    if value >= drift:
        return "drift"
    if value >= warning:
        return "warning"
    return "ok"


def _worst(*statuses: Status) -> Status:
    return max(statuses, key=LEVELS.__getitem__) if statuses else "ok"


def check_batch(
    reference: Profile, batch: Profile, t: Thresholds, performance: dict[str, Any] | None = None
) -> DriftReport:
    """Compare a batch profile with the reference profile (both from `build_profile`)."""
    labels = reference.labels
    n = batch.n
    if n < t.min_rows:
        note = f"{n} rows < min_rows {t.min_rows}: too few to judge"
        return DriftReport("ok", [Check("batch_size", "ok", {"n": n}, note)], n)
    ref_shares = np.array([reference.class_shares[k] for k in labels])
    shares = np.array([batch.class_shares[k] for k in labels])
    counts = np.array([batch.class_counts[k] for k in labels])
    checks = []

    p = stats.chi_square_p(ref_shares, counts)
    psi = stats.psi(ref_shares, shares)
    js = stats.js_distance(ref_shares, shares)
    significant = p < t.p_value
    status = _worst(
        _grade(psi, t.psi_warning, t.psi_drift, significant), _grade(js, t.js_warning, t.js_drift, significant)
    )
    checks.append(
        Check(
            "prediction_drift",
            status,
            {
                "reference_shares": dict(zip(labels, ref_shares.round(4).tolist(), strict=True)),
                "batch_shares": dict(zip(labels, shares.round(4).tolist(), strict=True)),
                "chi2_p": p,
                "psi": psi,
                "js_distance": js,
            },
            f"class shares {_fmt(shares, labels)} vs reference {_fmt(ref_shares, labels)}",
        )
    )

    majority = float(shares.max())
    checks.append(
        Check(
            "majority_class",
            "drift" if majority > t.majority_share_max else "ok",
            {"majority_label": labels[int(shares.argmax())], "share": majority, "limit": t.majority_share_max},
            f"{labels[int(shares.argmax())]} is {majority:.1%} of predictions (limit {t.majority_share_max:.0%})",
        )
    )

    delta_mean = batch.mean_confidence - reference.mean_confidence
    ks_stat, ks_p = stats.ks(reference.confidence_sample, np.array(batch.confidence_sample))
    delta_low = batch.low_confidence_share - reference.low_confidence_share
    status = _worst(
        _grade(abs(delta_mean), t.mean_confidence_warning, t.mean_confidence_drift),
        _grade(ks_stat, t.ks_warning, t.ks_drift, ks_p < t.p_value),
        _grade(delta_low, t.low_confidence_warning, t.low_confidence_drift),
    )
    checks.append(
        Check(
            "confidence_drift",
            status,
            {
                "mean_confidence": batch.mean_confidence,
                "reference_mean_confidence": reference.mean_confidence,
                "mean_change": delta_mean,
                "ks_statistic": ks_stat,
                "ks_p": ks_p,
                "low_confidence_share": batch.low_confidence_share,
                "low_confidence_change": delta_low,
            },
            f"mean confidence {batch.mean_confidence:.3f} vs {reference.mean_confidence:.3f}, KS {ks_stat:.3f}",
        )
    )

    edges = reference.token_length_histogram["edges"]
    ref_len = np.array(reference.token_length_histogram["counts"], float)
    len_psi = stats.psi(
        ref_len / max(1, ref_len.sum()), stats.binned_shares(np.array(batch.token_length_sample), edges)
    )
    len_ks, len_p = stats.ks(np.array(reference.token_length_sample), np.array(batch.token_length_sample))
    delta_unknown = batch.unknown_token_share - reference.unknown_token_share
    delta_links = batch.empty_or_link_only_share - reference.empty_or_link_only_share
    status = _worst(
        _grade(len_psi, t.psi_warning, t.psi_drift),
        _grade(len_ks, t.ks_warning, t.ks_drift, len_p < t.p_value),
        _grade(delta_unknown, t.unknown_warning, t.unknown_drift),
        _grade(delta_links, t.link_only_warning, t.link_only_drift),
    )
    checks.append(
        Check(
            "input_drift",
            status,
            {
                "token_length_psi": len_psi,
                "token_length_ks": len_ks,
                "token_length_ks_p": len_p,
                "mean_tokens": batch.mean_tokens,
                "reference_mean_tokens": reference.mean_tokens,
                "unknown_token_share": batch.unknown_token_share,
                "unknown_change": delta_unknown,
                "empty_or_link_only_share": batch.empty_or_link_only_share,
                "link_only_change": delta_links,
            },
            f"token-length PSI {len_psi:.3f}, unknown-token share {batch.unknown_token_share:.3f}",
        )
    )

    if performance is not None:
        holdout = (reference.metrics or {}).get("holdout", {})
        drop_acc = holdout.get("accuracy", performance["accuracy"]) - performance["accuracy"]
        drop_f1 = holdout.get("macro_f1", performance["macro_f1"]) - performance["macro_f1"]
        status = _worst(
            _grade(drop_acc, t.performance_warning, t.performance_drift),
            _grade(drop_f1, t.performance_warning, t.performance_drift),
        )
        checks.append(
            Check(
                "performance",
                status,
                {
                    "accuracy": performance["accuracy"],
                    "macro_f1": performance["macro_f1"],
                    "labelled_rows": performance["n"],
                    "holdout_accuracy": holdout.get("accuracy"),
                    "holdout_macro_f1": holdout.get("macro_f1"),
                    "accuracy_drop": drop_acc,
                    "macro_f1_drop": drop_f1,
                },
                f"accuracy {performance['accuracy']:.3f} vs holdout {holdout.get('accuracy', float('nan')):.3f}",
            )
        )

    return DriftReport(_worst(*(c.status for c in checks)), checks, n)


def _fmt(shares: np.ndarray, labels: list[str]) -> str:
    return "/".join(f"{s:.0%}" for s in shares) + f" ({'/'.join(labels)})"
