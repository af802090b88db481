"""Behavioural checks a challenger must pass before promotion (CheckList style).

Each check yields a rate; the challenger must not fall below the champion's own rate on the
same texts by more than a tolerance, so a threshold never has to be guessed, and a check that
is trivially 1.0 by construction (perturbing what cleaning removes anyway) is not used:

- minimum functionality: unmistakable tweets get the obvious label;
- invariance: the label survives perturbations that survive cleaning (case, repeated
  letters, extra punctuation, one first name swapped for another, a decorative emoji removed);
- directional: appending a clear negative clause, or negating a positive sentence, lowers the
  positive score.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from sentiops.data.labels import NEUTRAL
from sentiops.inference import Prediction

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
# Positive sentences and the same sentence negated.
NEGATIONS = [
    ("I love this song", "I do not love this song"),
    ("The movie was good", "The movie was not good"),
    ("I am happy with the result", "I am not happy with the result"),
    ("This is a great phone", "This is not a great phone"),
    ("I enjoyed the trip", "I did not enjoy the trip"),
    ("The food was nice", "The food was not nice"),
    ("I like my new job", "I don't like my new job"),
    ("Today was fun", "Today was not fun"),
]
NEGATIVE_CLAUSE = " but then it all went wrong and I hate it"
NAMES = ["John", "Mary", "David", "Sarah", "Michael", "Emma", "James", "Anna", "Tom", "Lisa"]
# Tweets where an emoji decorates rather than carries the sentiment (the words say it).
EMOJI_TWEETS = [
    "Finally finished my exams, so relieved 🎉",
    "Worst traffic ever this morning 🚗",
    "Coffee with friends, lovely afternoon ☕",
    "My flight got cancelled again, so annoyed ✈️",
    "Got a puppy today, I am so happy 🐶",
    "Lost my keys and missed the train 🔑",
]
_NAME = re.compile(r"\b(" + "|".join(NAMES) + r")\b")
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\ufe0f]+")
_LETTER_RUN = re.compile(r"([a-z])\1")


class Scorer(Protocol):
    def predict(self, texts: list[str]) -> list[Prediction]: ...


def _swap_name(text: str) -> str:
    return _NAME.sub(lambda m: NAMES[(NAMES.index(m.group(1)) + 1) % len(NAMES)], text)


PERTURBATIONS: dict[str, Callable[[str], str]] = {
    "case": lambda t: t.upper() if t != t.upper() else t.lower(),
    "repeated_letters": lambda t: _LETTER_RUN.sub(lambda m: m.group(0) + m.group(1) * 3, t, count=1),
    "punctuation": lambda t: t.rstrip() + "!!!",
    "name_swap": _swap_name,
    "emoji_removed": lambda t: _EMOJI.sub("", t).strip() if _EMOJI.search(t) else t,
}


def minimum_functionality(predictor: Scorer) -> dict[str, Any]:
    """Share of unmistakable tweets (written for this check) that get the obvious label."""
    results = predictor.predict(POSITIVE + NEGATIVE)
    expected = ["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE)
    failures = [t for t, r, e in zip(POSITIVE + NEGATIVE, results, expected, strict=True) if r.label != e]
    return {"rate": 1 - len(failures) / len(expected), "tested": len(expected), "failures": failures[:10]}


def invariance(predictor: Scorer, texts: list[str], two_class: bool = False) -> dict[str, dict[str, Any]]:
    """Per perturbation: the share of texts it changes whose label stays the same. ``two_class``:
    only texts the model takes a side on (not neutral), their labels read in the two-class view:
    how a three-class model is compared with a binary one (the champion has no neutral to move
    into or out of, and a neutral text is a near-tie between negative and positive that any
    change flips)."""
    pool = (
        list(texts) + EMOJI_TWEETS + [f"{name} said {t}" for name, t in zip(NAMES, POSITIVE + NEGATIVE, strict=False)]
    )
    found = {}
    for name, perturb in PERTURBATIONS.items():
        pairs = [(t, perturb(t)) for t in pool]
        pairs = [(a, b) for a, b in pairs if a != b and b.strip()]
        before = predictor.predict([a for a, _ in pairs])
        after = predictor.predict([b for _, b in pairs])
        answered = list(zip(before, after, strict=True))
        if two_class:
            answered = [(x.two_class(), y.two_class()) for x, y in answered if x.label != NEUTRAL]
        same = sum(x.label == y.label for x, y in answered)
        found[name] = {"rate": same / len(answered) if answered else 1.0, "tested": len(answered)}
    return found


def directional(predictor: Scorer, texts: list[str]) -> dict[str, dict[str, Any]]:
    """Shares of cases where a clearly more negative text gets a lower positive score."""

    def lowered(pairs: list[tuple[str, str]]) -> dict[str, Any]:
        before = predictor.predict([a for a, _ in pairs])
        after = predictor.predict([b for _, b in pairs])
        down = sum(y.scores["positive"] < x.scores["positive"] for x, y in zip(before, after, strict=True))
        return {"rate": down / len(pairs) if pairs else 1.0, "tested": len(pairs)}

    clause = [(t, t.rstrip(" .!") + NEGATIVE_CLAUSE) for t in list(texts)[:300] + POSITIVE]
    return {"negative_clause": lowered(clause), "negation": lowered(NEGATIONS)}


def run_all(predictor: Scorer, texts: list[str], two_class: bool = False) -> dict[str, dict[str, Any]]:
    """Every check as {name: {"rate", "tested", ...}}; ``two_class``: see `invariance` (the
    other checks read the model's own answers: a clear tweet must not come out neutral, a
    negative clause must lower P(positive))."""
    found = {"minimum_functionality": minimum_functionality(predictor)}
    found.update({f"invariance_{k}": v for k, v in invariance(predictor, texts, two_class).items()})
    found.update({f"directional_{k}": v for k, v in directional(predictor, texts).items()})
    return found


def compare_to_champion(
    challenger: dict[str, dict[str, Any]], champion: dict[str, dict[str, Any]], tolerance: float
) -> list[str]:
    """Reasons the challenger fails: any rate below the champion's own by more than ``tolerance``."""
    return [
        f"behaviour {name}: {challenger[name]['rate']:.3f} < champion's {champion[name]['rate']:.3f} - {tolerance}"
        for name in challenger
        if challenger[name]["rate"] < champion[name]["rate"] - tolerance
    ]


def agreement(challenger: Scorer, champion: Scorer, texts: list[str]) -> float:
    a = np.array([p.label for p in challenger.predict(texts)])
    b = np.array([p.label for p in champion.predict(texts)])
    return float((a == b).mean()) if len(texts) else 1.0
