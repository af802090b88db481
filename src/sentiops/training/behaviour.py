"""Behavioural checks a challenger must pass before promotion (CheckList / Made-With-ML style)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from sentiops.inference import Predictor

POSITIVE = [
    "I love this so much, best day ever!",
    "This is amazing, thank you so much!",
    "Had a wonderful time with my friends today",
    "So happy right now, everything is perfect",
    "What a beautiful morning, feeling great",
    "Congratulations! So proud of you",
    "I really enjoyed the concert last night, it was fantastic",
    "Thanks for the lovely birthday wishes everyone",
    "Great news, I got the job!",
    "This made me smile all day, awesome",
]
NEGATIVE = [
    "I hate this so much, worst day ever.",
    "This is awful, I am so sad",
    "My phone broke and I lost all my photos",
    "Feeling sick and miserable today",
    "I missed the bus again, terrible morning",
    "So disappointed, the show was cancelled",
    "Ugh I failed my exam, I feel horrible",
    "My dog died today, I can't stop crying",
    "Stuck in traffic for hours, this is the worst",
    "Nobody came to my party, so lonely",
]
_MENTION = re.compile(r"@\w+")
_URL = re.compile(r"https?://\S+|www\.\S+")


def minimum_functionality(predictor: Predictor) -> dict[str, Any]:
    """Share of unmistakable tweets (written for this check) that get the obvious label."""
    results = predictor.predict(POSITIVE + NEGATIVE)
    expected = ["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE)
    failures = [t for t, r, e in zip(POSITIVE + NEGATIVE, results, expected, strict=True) if r.label != e]
    return {"pass_rate": 1 - len(failures) / len(expected), "failures": failures}


def invariance(predictor: Predictor, texts: list[str]) -> dict[str, Any]:
    """Predictions must not change when @mentions or URLs are swapped for other ones."""
    changed = [_MENTION.sub("@someone_else", _URL.sub("https://example.org/other", t)) for t in texts]
    before = [p.label for p in predictor.predict(texts)]
    after = [p.label for p in predictor.predict(changed)]
    affected = [i for i, t in enumerate(texts) if t != changed[i]]
    same = sum(before[i] == after[i] for i in affected)
    return {"tested": len(affected), "invariant_rate": same / len(affected) if affected else 1.0}


def agreement(challenger: Predictor, champion: Predictor, texts: list[str]) -> float:
    a = np.array([p.label for p in challenger.predict(texts)])
    b = np.array([p.label for p in champion.predict(texts)])
    return float((a == b).mean()) if len(texts) else 1.0
