"""Drift statistics as pure functions over shares, counts and samples."""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

EPS = 1e-4  # floor for empty bins, so PSI stays finite


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two share vectors (0 = identical)."""
    e = np.clip(np.asarray(expected, dtype=float), EPS, None)
    a = np.clip(np.asarray(actual, dtype=float), EPS, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(expected: np.ndarray, actual: np.ndarray) -> float:
    """Jensen-Shannon distance, base 2 (0 = identical, 1 = disjoint)."""
    return float(jensenshannon(np.asarray(expected, float), np.asarray(actual, float), base=2))


def chi_square_p(reference_shares: np.ndarray, counts: np.ndarray) -> float:
    """p-value of a goodness-of-fit test of batch counts against the reference shares."""
    counts = np.asarray(counts, dtype=float)
    expected = np.clip(np.asarray(reference_shares, dtype=float), EPS, None)
    expected = expected / expected.sum() * counts.sum()
    if counts.sum() == 0:
        return 1.0
    return float(stats.chisquare(counts, expected).pvalue)


def ks(reference_sample: list[float] | np.ndarray, batch: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov (statistic, p-value)."""
    if len(reference_sample) == 0 or len(batch) == 0:
        return 0.0, 1.0
    result = stats.ks_2samp(np.asarray(reference_sample, float), np.asarray(batch, float))
    return float(result.statistic), float(result.pvalue)


def binned_shares(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Shares of values in the reference histogram's bins (values past the ends go to the ends)."""
    clipped = np.clip(np.asarray(values, float), edges[0], np.nextafter(edges[-1], -np.inf))
    counts, _ = np.histogram(clipped, bins=np.asarray(edges, float))
    return counts / max(1, counts.sum())
