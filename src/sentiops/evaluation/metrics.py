"""Classification metrics (accuracy, F1, ROC-AUC, calibration). Pure numpy/scikit-learn: no torch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Weighted mean gap between confidence and accuracy over equal-width confidence bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            ece += members.mean() * abs(confidence[members].mean() - correct[members].mean())
    return float(ece)


def classification_report(y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, macro-recall, per-class precision/recall, ROC-AUC, confusion matrix and ECE.

    ``labels``: class names by id (sentiops.data.labels.LABELS), at least one per column of
    ``probs``. Truth may hold a class the model lacks (neutral labels for a binary model): those
    rows count as wrong and the class is reported with recall 0, which is what a user of the model
    gets on them."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    names = list(labels[: max(probs.shape[1], int(y_true.max(initial=-1)) + 1)])
    ids = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    present = support > 0
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else float("nan"),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "macro_recall": float(recall[present].mean()) if present.any() else float("nan"),
        "roc_auc": _roc_auc(y_true, probs),
        "ece": expected_calibration_error(confidence, (y_pred == y_true).astype(float)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(names)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
    }


def _roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Binary: on P(positive). More classes: the one-vs-rest macro average. NaN when the truth
    lacks a class of the model or holds one the model lacks (no AUC can be drawn)."""
    try:
        if probs.shape[1] == 2:
            return float(roc_auc_score(y_true, probs[:, 1]))
        return float(roc_auc_score(y_true, probs, multi_class="ovr", labels=list(range(probs.shape[1]))))
    except ValueError:
        return float("nan")


def binary_view(probs: np.ndarray) -> np.ndarray:
    """Negative / positive probabilities only, neutral folded out (renormalised over the two):
    the larger of the two scores decides, for clients and checks that know two classes."""
    pair = np.asarray(probs, dtype=float)[:, :2]
    return pair / np.clip(pair.sum(axis=1, keepdims=True), 1e-12, None)
