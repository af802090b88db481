"""Drift checks of one scored batch against a reference profile (training or production).

Every check returns ok / warning / drift (or too_few when the batch is too small to judge)
with its numbers; the batch status is the worst. Each effect a check grades has its own
significance test, and a check fires only when the effect passes its floor AND its p-value,
corrected with Holm's method for all the tests run that day, is below `p_value`: effect floors
keep large batches from alarming on trivial differences, the tests keep small batches from
alarming on noise, and the correction keeps the day's false-alarm rate at `p_value` whatever
the number of checks. `benchmarks/drift_bench.py` measures the rates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.stats import binomtest, norm

from sentiops.config import Thresholds
from sentiops.monitoring import stats
from sentiops.monitoring.profile import Profile

Status = Literal["too_few", "ok", "warning", "drift"]
LEVELS: dict[Status, int] = {"too_few": -1, "ok": 0, "warning": 1, "drift": 2}


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


@dataclass
class _Effect:
    """One graded effect of a check: its size, floors and the p-value of its test."""

    check: str
    name: str
    value: float
    warning: float
    drift: float
    p: float
    adjusted_p: float = 1.0


def _grade(effect: _Effect, alpha: float) -> Status:
    if effect.adjusted_p >= alpha:
        return "ok"
    if effect.value >= effect.drift:
        return "drift"
    if effect.value >= effect.warning:
        return "warning"
    return "ok"


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


def _share_p(count: int, n: int, reference_share: float) -> float:
    """Two-sided exact binomial test of an observed share against a reference share."""
    if n == 0:
        return 1.0
    return float(binomtest(count, n, min(max(reference_share, 1e-6), 1 - 1e-6)).pvalue)


def check_batch(
    reference: Profile,
    batch: Profile,
    t: Thresholds,
    performance: dict[str, Any] | None = None,
    estimate: dict[str, float] | None = None,
) -> DriftReport:
    """Compare a batch profile with a reference profile (both from `build_profile`).

    ``performance``: metrics on the batch's labelled rows, when labels exist; ``estimate``:
    the accuracy estimated without labels (`evaluation.calibration.estimate_accuracy`).
    """
    labels = reference.labels
    n = batch.n
    effects: list[_Effect] = []
    numbers: dict[str, dict[str, Any]] = {}
    messages: dict[str, str] = {}
    too_few: dict[str, str] = {}

    def enough(check: str, rows: int, minimum: int) -> bool:
        if rows < minimum:
            too_few[check] = f"{rows} rows < {minimum}: too few to judge"
        return rows >= minimum

    ref_shares = np.array([reference.class_shares[k] for k in labels])
    shares = np.array([batch.class_shares[k] for k in labels])
    counts = np.array([batch.class_counts[k] for k in labels])
    if enough("prediction_drift", n, t.min_rows_prediction):
        p = stats.chi_square_p(ref_shares, counts)
        psi, js = stats.psi(ref_shares, shares), stats.js_distance(ref_shares, shares)
        effects += [
            _Effect("prediction_drift", "psi", psi, t.psi_warning, t.psi_drift, p),
            _Effect("prediction_drift", "js_distance", js, t.js_warning, t.js_drift, p),
        ]
        numbers["prediction_drift"] = {
            "reference_shares": dict(zip(labels, ref_shares.round(4).tolist(), strict=True)),
            "batch_shares": dict(zip(labels, shares.round(4).tolist(), strict=True)),
            "chi2_p": p,
            "psi": psi,
            "js_distance": js,
        }
        messages["prediction_drift"] = f"class shares {_fmt(shares, labels)} vs reference {_fmt(ref_shares, labels)}"

    if enough("majority_class", n, t.min_rows_prediction):
        majority = float(shares.max())
        top = labels[int(shares.argmax())]
        # One-sided: is the true share above the limit, not just this batch's?
        p = float(binomtest(int(counts.max()), n, t.majority_share_max, alternative="greater").pvalue)
        effects.append(_Effect("majority_class", "share_over_limit", majority - t.majority_share_max, 1e-9, 1e-9, p))
        numbers["majority_class"] = {"majority_label": top, "share": majority, "limit": t.majority_share_max, "p": p}
        messages["majority_class"] = f"{top} is {majority:.1%} of predictions (limit {t.majority_share_max:.0%})"

    if enough("confidence_drift", n, t.min_rows_prediction):
        delta_mean = batch.mean_confidence - reference.mean_confidence
        ks_stat, ks_p = stats.ks(reference.confidence_sample, np.array(batch.confidence_sample))
        delta_low = batch.low_confidence_share - reference.low_confidence_share
        low_p = _share_p(round(batch.low_confidence_share * n), n, reference.low_confidence_share)
        effects += [
            _Effect(
                "confidence_drift",
                "mean_change",
                abs(delta_mean),
                t.mean_confidence_warning,
                t.mean_confidence_drift,
                ks_p,
            ),
            _Effect("confidence_drift", "ks_statistic", ks_stat, t.ks_warning, t.ks_drift, ks_p),
            _Effect(
                "confidence_drift",
                "low_confidence_change",
                delta_low,
                t.low_confidence_warning,
                t.low_confidence_drift,
                low_p,
            ),
        ]
        numbers["confidence_drift"] = {
            "mean_confidence": batch.mean_confidence,
            "reference_mean_confidence": reference.mean_confidence,
            "mean_change": delta_mean,
            "ks_statistic": ks_stat,
            "ks_p": ks_p,
            "low_confidence_share": batch.low_confidence_share,
            "low_confidence_change": delta_low,
            "low_confidence_p": low_p,
        }
        messages["confidence_drift"] = (
            f"mean confidence {batch.mean_confidence:.3f} vs {reference.mean_confidence:.3f}, KS {ks_stat:.3f}"
        )

    if enough("input_drift", n, t.min_rows_input):
        ref_len = np.array(reference.token_length_histogram["counts"], float)
        ref_len_shares = ref_len / max(1, ref_len.sum())
        batch_len_counts = np.array(batch.token_length_histogram["counts"], float)
        len_psi = stats.psi(ref_len_shares, batch_len_counts / max(1, batch_len_counts.sum()))
        len_chi_p = stats.chi_square_p(ref_len_shares, batch_len_counts)
        len_ks, len_p = stats.ks(np.array(reference.token_length_sample), np.array(batch.token_length_sample))
        delta_unknown = batch.unknown_token_share - reference.unknown_token_share
        tokens = max(1, round(batch.mean_tokens * n))
        unknown_p = _share_p(round(batch.unknown_token_share * tokens), tokens, reference.unknown_token_share)
        delta_links = batch.empty_or_link_only_share - reference.empty_or_link_only_share
        links_p = _share_p(round(batch.empty_or_link_only_share * n), n, reference.empty_or_link_only_share)
        effects += [
            _Effect("input_drift", "token_length_psi", len_psi, t.psi_warning, t.psi_drift, len_chi_p),
            _Effect("input_drift", "token_length_ks", len_ks, t.ks_warning, t.ks_drift, len_p),
            _Effect("input_drift", "unknown_change", delta_unknown, t.unknown_warning, t.unknown_drift, unknown_p),
            _Effect("input_drift", "link_only_change", delta_links, t.link_only_warning, t.link_only_drift, links_p),
        ]
        numbers["input_drift"] = {
            "token_length_psi": len_psi,
            "token_length_chi2_p": len_chi_p,
            "token_length_ks": len_ks,
            "token_length_ks_p": len_p,
            "mean_tokens": batch.mean_tokens,
            "reference_mean_tokens": reference.mean_tokens,
            "unknown_token_share": batch.unknown_token_share,
            "unknown_change": delta_unknown,
            "empty_or_link_only_share": batch.empty_or_link_only_share,
            "link_only_change": delta_links,
        }
        messages["input_drift"] = f"token-length PSI {len_psi:.3f}, unknown-token share {batch.unknown_token_share:.3f}"

    if performance is not None and enough("performance", int(performance["n"]), t.min_rows_performance):
        holdout = (reference.metrics or {}).get("holdout", {})
        expected = holdout.get("accuracy", performance["accuracy"])
        drop_acc = expected - performance["accuracy"]
        drop_f1 = holdout.get("macro_f1", performance["macro_f1"]) - performance["macro_f1"]
        labelled = int(performance["n"])
        p = float(
            binomtest(
                round(performance["accuracy"] * labelled), labelled, min(expected, 1 - 1e-6), alternative="less"
            ).pvalue
        )
        effects += [
            _Effect("performance", "accuracy_drop", drop_acc, t.performance_warning, t.performance_drift, p),
            _Effect("performance", "macro_f1_drop", drop_f1, t.performance_warning, t.performance_drift, p),
        ]
        numbers["performance"] = {
            "accuracy": performance["accuracy"],
            "macro_f1": performance["macro_f1"],
            "labelled_rows": labelled,
            "holdout_accuracy": holdout.get("accuracy"),
            "holdout_macro_f1": holdout.get("macro_f1"),
            "accuracy_drop": drop_acc,
            "macro_f1_drop": drop_f1,
            "p": p,
        }
        messages["performance"] = (
            f"accuracy {performance['accuracy']:.3f} vs holdout {holdout.get('accuracy', float('nan')):.3f}"
        )
    elif performance is not None:
        numbers["performance"] = {"labelled_rows": int(performance["n"]), "accuracy": performance["accuracy"]}

    holdout_accuracy = (reference.metrics or {}).get("holdout", {}).get("accuracy")
    if (
        estimate is not None
        and holdout_accuracy is not None
        and enough("estimated_performance", n, t.min_rows_prediction)
    ):
        drop = holdout_accuracy - estimate["estimated_accuracy"]
        p = float(norm.sf(drop / max(estimate["sd"], 1e-9)))  # one-sided: is the estimate really lower?
        effects.append(
            _Effect("estimated_performance", "estimated_drop", drop, t.performance_warning, t.performance_drift, p)
        )
        numbers["estimated_performance"] = {**estimate, "holdout_accuracy": holdout_accuracy, "estimated_drop": drop}
        if performance is not None:
            numbers["estimated_performance"]["realized_accuracy"] = performance["accuracy"]
        messages["estimated_performance"] = (
            f"estimated accuracy {estimate['estimated_accuracy']:.3f} "
            f"[{estimate['low']:.3f}, {estimate['high']:.3f}] without labels vs holdout {holdout_accuracy:.3f}"
        )

    for effect, adjusted in zip(effects, holm([e.p for e in effects]), strict=True):
        effect.adjusted_p = adjusted
    checks = []
    names = (
        "prediction_drift",
        "majority_class",
        "confidence_drift",
        "input_drift",
        "estimated_performance",
        "performance",
    )
    for name in names:
        if name in too_few:
            checks.append(Check(name, "too_few", numbers.get(name, {}), too_few[name]))
        elif name in numbers:
            graded = [e for e in effects if e.check == name]
            numbers[name]["holm_p"] = {e.name: e.adjusted_p for e in graded}
            checks.append(Check(name, worst(*(_grade(e, t.p_value) for e in graded)), numbers[name], messages[name]))
    return DriftReport(worst(*(c.status for c in checks)), checks, n)


def _fmt(shares: np.ndarray, labels: list[str]) -> str:
    return "/".join(f"{s:.0%}" for s in shares) + f" ({'/'.join(labels)})"
