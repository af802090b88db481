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


CONFIDENCE_EDGES = np.linspace(0.5, 1.0, 11)
TOKEN_EDGES = np.array([0, 8, 12, 16, 20, 24, 32, 40, 48, 64, 128, 512])


class ProfileBuilder:
    """A profile built chunk by chunk: counts, sums and histograms, and a bounded random sample
    (the SAMPLE_SIZE rows with the smallest random keys), so memory does not grow with the day."""

    def __init__(self, labels: list[str], seed: int = 0) -> None:
        self.labels = labels
        self.rng = np.random.default_rng(seed)
        self.n = 0
        self.class_counts = np.zeros(len(labels), dtype=np.int64)
        self.confidence_sum = 0.0
        self.low_confidence = 0
        self.tokens_sum = 0
        self.unknown_sum = 0
        self.content_tokens_sum = 0
        self.placeholders = 0
        self.confidence_counts = np.zeros(len(CONFIDENCE_EDGES) - 1, dtype=np.int64)
        self.token_counts = np.zeros(len(TOKEN_EDGES) - 1, dtype=np.int64)
        self._keys = np.zeros(0)
        self._sample_confidence = np.zeros(0)
        self._sample_tokens = np.zeros(0, dtype=np.int64)

    def add(self, texts: list[str], probs: np.ndarray, tokens: np.ndarray, unknown: np.ndarray) -> None:
        if len(texts) == 0:
            return
        tokens, unknown = np.asarray(tokens, dtype=np.int64), np.asarray(unknown, dtype=np.int64)
        predicted, confidence = probs.argmax(axis=1), probs.max(axis=1)
        self.n += len(texts)
        self.class_counts += np.bincount(predicted, minlength=len(self.labels))[: len(self.labels)]
        self.confidence_sum += float(confidence.sum())
        self.low_confidence += int((confidence < LOW_CONFIDENCE).sum())
        self.tokens_sum += int(tokens.sum())
        self.unknown_sum += int(unknown.sum())
        # Special tokens ([CLS], [SEP]) are in every encoding; leave them out of the unknown share.
        self.content_tokens_sum += int(np.maximum(tokens - 2, 0).sum())
        self.placeholders += sum(is_placeholder_only(clean_text(t)) for t in texts)
        self.confidence_counts += np.histogram(confidence, bins=CONFIDENCE_EDGES)[0]
        self.token_counts += np.histogram(tokens, bins=TOKEN_EDGES)[0]
        keys = np.concatenate([self._keys, self.rng.random(len(texts))])
        sample_confidence = np.concatenate([self._sample_confidence, confidence])
        sample_tokens = np.concatenate([self._sample_tokens, tokens])
        if len(keys) > SAMPLE_SIZE:
            keep = np.sort(np.argpartition(keys, SAMPLE_SIZE)[:SAMPLE_SIZE])
            keys, sample_confidence, sample_tokens = keys[keep], sample_confidence[keep], sample_tokens[keep]
        self._keys, self._sample_confidence, self._sample_tokens = keys, sample_confidence, sample_tokens

    def profile(self) -> Profile:
        n = self.n
        return Profile(
            n=n,
            labels=self.labels,
            class_counts={name: int(self.class_counts[i]) for i, name in enumerate(self.labels)},
            class_shares={name: float(self.class_counts[i] / n) if n else 0.0 for i, name in enumerate(self.labels)},
            mean_confidence=self.confidence_sum / n if n else 0.0,
            low_confidence_share=self.low_confidence / n if n else 0.0,
            mean_tokens=self.tokens_sum / n if n else 0.0,
            unknown_token_share=self.unknown_sum / max(1, self.content_tokens_sum),
            empty_or_link_only_share=self.placeholders / n if n else 0.0,
            confidence_histogram=_histogram(self.confidence_counts, CONFIDENCE_EDGES),
            token_length_histogram=_histogram(self.token_counts, TOKEN_EDGES),
            confidence_sample=[round(float(c), 4) for c in self._sample_confidence],
            token_length_sample=[int(t) for t in self._sample_tokens],
        )


def build_profile(
    texts: list[str],
    probs: np.ndarray,
    tokens: np.ndarray,
    unknown: np.ndarray,
    labels: list[str],
    seed: int = 0,
) -> Profile:
    """Summarise one set of predictions held in memory (a validation split); scored days go
    through `ProfileBuilder` chunk by chunk."""
    builder = ProfileBuilder(labels, seed)
    builder.add(texts, np.asarray(probs), np.asarray(tokens), np.asarray(unknown))
    return builder.profile()


def _histogram(counts: np.ndarray, edges: np.ndarray) -> Histogram:
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
