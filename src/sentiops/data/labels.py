"""Label mapping: every label spelling users bring, onto negative / positive (/ neutral)."""

from __future__ import annotations

LABELS: tuple[str, ...] = ("negative", "positive")
LABEL2ID: dict[str, int] = {name: i for i, name in enumerate(LABELS)}
NEUTRAL = "neutral"

_SPELLINGS: dict[str, str] = {
    # Sentiment140: 0 / 2 / 4; common binary files: 0 / 1.
    "0": "negative",
    "1": "positive",
    "2": NEUTRAL,
    "4": "positive",
    "negative": "negative",
    "neg": "negative",
    "positive": "positive",
    "pos": "positive",
    "neutral": NEUTRAL,
    "neu": NEUTRAL,
}


def map_label(raw: object) -> str | None:
    """'negative', 'positive' or 'neutral' for a raw label; None when it is not a known label."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, float):
        if not raw.is_integer():
            return None
        raw = int(raw)
    return _SPELLINGS.get(str(raw).strip().strip('"').lower())
