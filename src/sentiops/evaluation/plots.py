"""Confusion-matrix and reliability plots as PNGs (headless matplotlib; the train extra)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix


def save_plots(y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str], folder: Path, prefix: str) -> None:
    """Confusion matrix and reliability diagram as PNGs (headless matplotlib). ``labels``: class
    names by id (LABELS), at least one per column of ``probs``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y_true = np.asarray(y_true, dtype=int)
    y_pred = probs.argmax(axis=1)
    labels = list(labels[: max(probs.shape[1], int(y_true.max(initial=-1)) + 1)])  # truth may hold more classes
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
    edges = np.linspace(1 / probs.shape[1], 1.0, 11)
    centers, accuracy = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        members = (confidence >= lo) & (confidence < hi if hi < 1 else confidence <= hi)
        if members.any():
            centers.append(confidence[members].mean())
            accuracy.append(correct[members].mean())
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ax.plot([edges[0], 1], [edges[0], 1], "--", color="grey", label="perfect calibration")
    ax.plot(centers, accuracy, "o-", label="model")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability ({prefix})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / f"{prefix}_reliability.png", dpi=100)
    plt.close(fig)
