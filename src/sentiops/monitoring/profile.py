"""Profiles of what a model saw and predicted: the reference for every drift check.

A profile keeps summary shares plus a bounded sample of confidences and token lengths, so
that distribution tests (KS) can compare a batch with the reference exactly.
"""

from __future__ import annotations

import numpy as np

from sentiops.text import clean_text, is_placeholder_only
from sentiops.version import Histogram, Profile

__all__ = ["Histogram", "Profile", "build_profile"]

SAMPLE_SIZE = 5000
LOW_CONFIDENCE = 0.6


def build_profile(
    texts: list[str],
    probs: np.ndarray,
    tokens: np.ndarray,
    unknown: np.ndarray,
    labels: list[str],
    seed: int = 0,
) -> Profile:
    """Summarise one set of predictions (a validation set or a scored batch)."""
    n = len(texts)
    predicted = probs.argmax(axis=1) if n else np.zeros(0, dtype=int)
    confidence = probs.max(axis=1) if n else np.zeros(0)
    cleaned = [clean_text(t) for t in texts]
    # Special tokens ([CLS], [SEP]) are in every encoding; leave them out of the unknown share.
    content_tokens = np.maximum(tokens - 2, 0)
    rng = np.random.default_rng(seed)
    keep = rng.choice(n, size=min(n, SAMPLE_SIZE), replace=False) if n else np.zeros(0, dtype=int)
    keep.sort()
    return Profile(
        n=n,
        labels=labels,
        class_counts={name: int((predicted == i).sum()) for i, name in enumerate(labels)},
        class_shares={name: float((predicted == i).mean()) if n else 0.0 for i, name in enumerate(labels)},
        mean_confidence=float(confidence.mean()) if n else 0.0,
        low_confidence_share=float((confidence < LOW_CONFIDENCE).mean()) if n else 0.0,
        mean_tokens=float(tokens.mean()) if n else 0.0,
        unknown_token_share=float(unknown.sum() / max(1, content_tokens.sum())),
        empty_or_link_only_share=float(np.mean([is_placeholder_only(c) for c in cleaned])) if n else 0.0,
        confidence_histogram=_histogram(confidence, np.linspace(0.5, 1.0, 11)),
        token_length_histogram=_histogram(tokens, np.array([0, 8, 12, 16, 20, 24, 32, 40, 48, 64, 128, 512])),
        confidence_sample=[round(float(c), 4) for c in confidence[keep]],
        token_length_sample=[int(t) for t in tokens[keep]],
    )


def _histogram(values: np.ndarray, edges: np.ndarray) -> Histogram:
    counts, _ = np.histogram(values, bins=edges)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
