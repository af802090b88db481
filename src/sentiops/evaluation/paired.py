"""Paired comparison of two models on the same rows: is the challenger really better?

Each row is scored by both models, so their errors are compared pair by pair: a paired
bootstrap of the accuracy difference gives a confidence interval, and McNemar's exact test (a
binomial test on the rows where exactly one model is right) a p-value. Reusing one holdout
for every decision makes the interval the honest part: a challenger that differs only by
training noise gets an interval that straddles zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest


@dataclass(frozen=True)
class PairedResult:
    n: int
    champion_accuracy: float
    challenger_accuracy: float
    difference: float  # challenger minus champion
    interval: tuple[float, float]
    confidence: float
    mcnemar_p: float
    only_challenger_right: int
    only_champion_right: int
    test: str = "paired bootstrap of the accuracy difference + exact McNemar"
    # What `difference` and `interval` are of: accuracy, or (models with different classes)
    # macro-averaged recall over the classes the labels hold, where a binary model scores 0 on neutral.
    metric: str = "accuracy"
    champion_metric: float | None = None
    challenger_metric: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_p(only_b_right: int, only_a_right: int) -> float:
    """Exact McNemar: a binomial test on the rows where exactly one of two models is right."""
    discordant = only_a_right + only_b_right
    return float(binomtest(only_b_right, discordant, 0.5).pvalue) if discordant else 1.0


def macro_recall(correct: np.ndarray, truth: np.ndarray, picks: np.ndarray | None = None) -> np.ndarray:
    """Macro-averaged recall over the classes in ``truth``; per resample (rows of ``picks``) when given."""
    picks = np.arange(truth.size)[None, :] if picks is None else picks
    recalls = []
    for label in np.unique(truth):
        members = truth == label
        found = members[picks].sum(axis=1)
        hits = (correct & members)[picks].sum(axis=1)
        recalls.append(np.where(found > 0, hits / np.maximum(found, 1), np.nan))
    return np.nanmean(np.stack(recalls), axis=0)


def compare(
    champion_correct: np.ndarray,
    challenger_correct: np.ndarray,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    truth: np.ndarray | None = None,
) -> PairedResult:
    """Paired bootstrap of the accuracy difference, or with ``truth`` (each row's class) of the
    macro-recall difference; McNemar's test is on the discordant rows either way."""
    a = np.asarray(champion_correct, dtype=bool)
    b = np.asarray(challenger_correct, dtype=bool)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("paired comparison needs the same, non-empty set of rows for both models")
    n = a.size
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(resamples, n))
    if truth is None:
        diffs = b[picks].mean(axis=1) - a[picks].mean(axis=1)
        score_a, score_b = float(a.mean()), float(b.mean())
    else:
        y = np.asarray(truth)
        diffs = macro_recall(b, y, picks) - macro_recall(a, y, picks)
        score_a, score_b = float(macro_recall(a, y)[0]), float(macro_recall(b, y)[0])
    tail = (1 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    only_b = int((b & ~a).sum())
    only_a = int((a & ~b).sum())
    p = mcnemar_p(only_b, only_a)
    return PairedResult(
        n=n,
        champion_accuracy=float(a.mean()),
        challenger_accuracy=float(b.mean()),
        difference=score_b - score_a,
        interval=(float(low), float(high)),
        confidence=confidence,
        mcnemar_p=float(p),
        only_challenger_right=only_b,
        only_champion_right=only_a,
        metric="accuracy" if truth is None else "macro_recall",
        champion_metric=score_a,
        challenger_metric=score_b,
    )
