"""Label schemes: every label spelling users bring, onto negative / positive / neutral.

Numbers mean different things in different files: Sentiment140 uses 0/2/4, binary files 0/1,
and three-class files 0/1/2 (where 1 is neutral). A file's scheme is read from the labels it
holds, and a file whose numbers could be read two ways (0/1/2) is refused unless the scheme is
named: mapping it silently would turn neutral tweets into positive ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

NEUTRAL = "neutral"
# Every class a label can carry; a label's id in the store (and in every model's output) is its
# index here. Neutral comes last so that a binary model's classes are a prefix: a three-class
# model widens a binary one's head by one row, and ids 0 and 1 mean the same in both.
LABELS: tuple[str, ...] = ("negative", "positive", NEUTRAL)
LABEL2ID: dict[str, int] = {name: i for i, name in enumerate(LABELS)}
BINARY: tuple[str, ...] = LABELS[:2]


def classes_for(labels: Iterable[int], neutral_min_labels: int) -> tuple[str, ...]:
    """The classes a model trained on these label ids learns: three once enough neutral rows
    would train (neutral comes only from people), else the binary pair."""
    neutral = sum(1 for label in labels if label == LABEL2ID[NEUTRAL])
    return LABELS if neutral >= neutral_min_labels else BINARY


Scheme = Literal["sentiment140", "binary", "three-class", "words"]
SCHEMES: dict[Scheme, dict[str, str]] = {
    "sentiment140": {"0": "negative", "2": NEUTRAL, "4": "positive"},
    "binary": {"0": "negative", "1": "positive"},
    "three-class": {"0": "negative", "1": NEUTRAL, "2": "positive"},
    "words": {},
}
# Words mean the same in every scheme.
_WORDS = {
    "negative": "negative",
    "neg": "negative",
    "positive": "positive",
    "pos": "positive",
    "neutral": NEUTRAL,
    "neu": NEUTRAL,
}


class LabelSchemeError(ValueError):
    """The labels of a file do not fit one scheme, or fit more than one."""


def normalise(raw: object) -> str | None:
    """A raw label as a lower-case string ("4", "positive"), or None if it cannot be a label."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, float):
        if not raw.is_integer():
            return None
        raw = int(raw)
    return str(raw).strip().strip('"').lower()


def detect_scheme(values: Iterable[object]) -> Scheme:
    """The scheme a file's labels follow. Its numbers decide (words fit every scheme); numbers
    outside 0-4 decide nothing and become rejects later."""
    numbers = {v for v in map(normalise, values) if v is not None and v not in _WORDS}
    has = {n: n in numbers for n in ("1", "2", "4")}
    if has["4"] and not has["1"]:
        return "sentiment140"
    if has["1"] and not has["2"] and not has["4"]:
        return "binary"
    if not any(has.values()):
        return "binary" if "0" in numbers else "words"
    seen = "/".join(sorted(numbers & {"0", "1", "2", "4"}))
    raise LabelSchemeError(
        f"labels {seen} can be read more than one way (is 2 neutral or positive?): name the scheme "
        "with --label-scheme sentiment140 (0/2/4), binary (0/1) or three-class (0/1/2, 1 neutral)"
    )


def map_label(raw: object, scheme: Scheme = "sentiment140") -> str | None:
    """'negative', 'positive' or 'neutral' for a raw label; None when it is not a label of the scheme."""
    value = normalise(raw)
    if value is None:
        return None
    return _WORDS.get(value) or SCHEMES[scheme].get(value)
