"""Behavioural checks can fail: a model damaged in one way fails the check for that way, judged
against the real (tiny) champion's own rates."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from sentiops.data.store import read_split
from sentiops.inference import Prediction, Predictor
from sentiops.training import behaviour


class Damaged:
    """The champion, except that texts matching ``rule`` get the opposite label and scores."""

    def __init__(self, model: Predictor, rule) -> None:
        self.model, self.rule = model, rule

    def predict(self, texts: list[str]) -> list[Prediction]:
        out = []
        for text, p in zip(texts, self.model.predict(texts), strict=True):
            if self.rule(text):
                other = "negative" if p.label == "positive" else "positive"
                scores = {"negative": p.scores["positive"], "positive": p.scores["negative"]}
                p = replace(p, label=other, confidence=scores[other], scores=scores)
            out.append(p)
        return out


class AlwaysPositive(Damaged):
    def predict(self, texts):
        return [Prediction("positive", 0.9, {"negative": 0.1, "positive": 0.9}) for _ in texts]


class LikesComplaints(Damaged):
    """Raises the positive score when a negative clause is appended."""

    def predict(self, texts):
        out = []
        for p, text in zip(self.model.predict(texts), texts, strict=True):
            boost = 0.3 if "hate it" in text or " not " in text or "don't" in text else 0.0
            pos = min(0.99, p.scores["positive"] + boost)
            label = "positive" if pos >= 0.5 else "negative"
            out.append(
                replace(p, label=label, confidence=max(pos, 1 - pos), scores={"negative": 1 - pos, "positive": pos})
            )
        return out


@pytest.fixture(scope="module")
def champion_and_texts(_trained_registry, prepared_data):
    from sentiops.registry import Registry

    champion = Predictor.load(Registry(_trained_registry), backend="ort-fp32")
    texts = read_split(prepared_data, "holdout").column("text").to_pylist()[:300]
    return champion, texts, behaviour.run_all(champion, texts)


DAMAGE = {
    "minimum_functionality": lambda m: AlwaysPositive(m, None),
    "invariance_case": lambda m: Damaged(m, lambda t: t.isupper()),
    "invariance_repeated_letters": lambda m: Damaged(m, lambda t: re.search(r"([a-z])\1{3}", t)),
    "invariance_punctuation": lambda m: Damaged(m, lambda t: t.endswith("!!!")),
    "invariance_name_swap": lambda m: Damaged(m, lambda t: re.search(r"\b(Mary|Sarah|Emma|Anna|Lisa)\b", t)),
    "invariance_emoji_removed": lambda m: Damaged(
        m, lambda t: not re.search("[\U0001f300-\U0001faff\u2600-\u27bf]", t)
    ),
    "directional_negative_clause": lambda m: LikesComplaints(m, None),
    "directional_negation": lambda m: LikesComplaints(m, None),
}


@pytest.mark.parametrize("check", sorted(DAMAGE))
def test_a_model_damaged_in_one_way_fails_that_check(champion_and_texts, check):
    champion, texts, champion_rates = champion_and_texts
    damaged = DAMAGE[check](champion)
    reasons = behaviour.compare_to_champion(behaviour.run_all(damaged, texts), champion_rates, tolerance=0.05)
    assert any(reason.startswith(f"behaviour {check}:") for reason in reasons), reasons


def test_the_champion_passes_against_itself(champion_and_texts):
    champion, texts, rates = champion_and_texts
    assert behaviour.compare_to_champion(behaviour.run_all(champion, texts), rates, tolerance=0.0) == []
    assert all(entry["tested"] > 0 for entry in rates.values())
