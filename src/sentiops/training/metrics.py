"""Classification metrics and plots. Pure numpy/scikit-learn: no torch needed."""

from __future__ import annotations

from pathlib import Path

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


def classification_report(y_true: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall, ROC-AUC, confusion matrix and ECE."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(len(labels))), zero_division=0
    )
    try:
        auc = float(roc_auc_score(y_true, probs[:, 1]))
    except ValueError:  # only one class present
        auc = float("nan")
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "roc_auc": auc,
        "ece": expected_calibration_error(confidence, (y_pred == y_true).astype(float)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=list(range(len(labels)))).tolist(),
    }


def save_plots(y_true: np.ndarray, probs: np.ndarray, labels: list[str], folder: Path, prefix: str) -> None:
    """Confusion matrix and reliability diagram as PNGs (headless matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y_true = np.asarray(y_true, dtype=int)
    y_pred = probs.argmax(axis=1)
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(len(labels))))
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix ({prefix})")
    fig.tight_layout()
    fig.savefig(folder / f"{prefix}_confusion.png", dpi=100)
    plt.close(fig)

    confidence = probs.max(axis=1)
    correct = (y_pred == y_true).astype(float)
    edges = np.linspace(0.5, 1.0, 11)
    centers, accuracy = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        members = (confidence >= lo) & (confidence < hi if hi < 1 else confidence <= hi)
        if members.any():
            centers.append(confidence[members].mean())
            accuracy.append(correct[members].mean())
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ax.plot([0.5, 1], [0.5, 1], "--", color="grey", label="perfect calibration")
    ax.plot(centers, accuracy, "o-", label="model")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability ({prefix})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / f"{prefix}_reliability.png", dpi=100)
    plt.close(fig)
