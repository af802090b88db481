"""Calibrated confidence, and accuracy estimated without labels from it (confidence-based
performance estimation, as NannyML's CBPE does).

If a model's confidences are calibrated (of the tweets it is 80% sure about, 80% are right),
then the mean confidence of a batch is an unbiased estimate of its accuracy, labels or not.
Raw softmax scores of a fine-tuned transformer are usually over-confident, so one temperature
is fitted on the validation split when a version is packaged (temperature scaling: divide the
logits by T, chosen to minimise the log-loss) and stored with the version.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy.optimize import minimize_scalar

from sentiops.evaluation.metrics import expected_calibration_error

_FLOOR = 1e-12  # a probability of 0 has no log: clipped here, the same in every path below


def _log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, dtype=float), _FLOOR, 1.0))


def calibrate(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities with the logits divided by ``temperature`` (log-probabilities are logits up to a constant)."""
    scaled = _log_probs(probs) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def calibrated_confidence(scores: Iterable[float], temperature: float) -> float:
    """`calibrate(...).max()` of one answer in plain Python: what the service does per request,
    where numpy's call overhead on one row cost more than the arithmetic."""
    logs = [math.log(min(max(p, _FLOOR), 1.0)) / temperature for p in scores]
    top = max(logs)
    return 1.0 / sum(math.exp(x - top) for x in logs)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the validation log-loss."""
    labels = np.asarray(labels, dtype=int)

    def nll(temperature: float) -> float:
        calibrated = calibrate(probs, temperature)
        return float(-np.log(np.clip(calibrated[np.arange(len(labels)), labels], _FLOOR, 1)).mean())

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def calibration_record(probs: np.ndarray, labels: np.ndarray) -> dict[str, float | str]:
    temperature = fit_temperature(probs, labels)
    labels = np.asarray(labels, dtype=int)

    def ece(p: np.ndarray) -> float:
        return expected_calibration_error(p.max(axis=1), (p.argmax(axis=1) == labels).astype(float))

    return {
        "method": "temperature scaling on the validation split",
        "temperature": temperature,
        "ece_before": ece(np.asarray(probs)),
        "ece_after": ece(calibrate(probs, temperature)),
    }


def estimate_accuracy(probs: np.ndarray, temperature: float, z: float = 1.96) -> dict[str, float]:
    """Estimated accuracy of a batch from calibrated confidence, with a normal interval.

    Each row is right with probability c_i (its calibrated confidence), so the count of right
    rows has variance sum c_i (1 - c_i); the interval covers that sampling noise, not an error
    in the calibration itself.
    """
    confidence = calibrate(probs, temperature).max(axis=1)
    return estimate_from_sums(float(confidence.sum()), float((confidence * (1 - confidence)).sum()), len(confidence), z)


def estimate_from_sums(confidence_sum: float, variance_sum: float, n: int, z: float = 1.96) -> dict[str, float]:
    """`estimate_accuracy` from running sums of c_i and c_i (1 - c_i), for a day read in chunks."""
    if n == 0:
        return {"estimated_accuracy": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    estimate = confidence_sum / n
    sd = math.sqrt(variance_sum) / n
    return {"estimated_accuracy": estimate, "low": estimate - z * sd, "high": estimate + z * sd, "sd": sd, "n": n}
