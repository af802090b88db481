"""Drift statistics on batches built from the sample, with the tiny model's predictions."""

from __future__ import annotations

import numpy as np
import pytest

from sentiops.config import Thresholds
from sentiops.inference import Predictor
from sentiops.monitoring.drift import check_batch
from sentiops.monitoring.profile import Profile, build_profile
from tests.helpers.data import sample_rows

FORMAL = (
    "The committee reviewed the quarterly financial statements in considerable detail and concluded that "
    "the proposed amendments to the governance framework require further consultation with stakeholders "
    "before the board can approve their implementation in the forthcoming fiscal year."
)


@pytest.fixture(scope="module")
def pool(_trained_registry):
    """Predictions for 8,000 sample tweets the tiny model never trained on."""
    from sentiops.registry import Registry

    predictor = Predictor.load(Registry(_trained_registry), backend="ort-fp32")
    texts = [t for _, t in sample_rows()[6000:14000]]
    probs, tokens, unknown = predictor.probabilities(texts)
    reference = build_profile(texts[:2000], probs[:2000], tokens[:2000], unknown[:2000], predictor.labels)
    return predictor, reference, texts[2000:], probs[2000:], tokens[2000:], unknown[2000:]


def _profile(pool, index: np.ndarray, seed: int = 0) -> dict:
    predictor, _, texts, probs, tokens, unknown = pool
    return build_profile([texts[i] for i in index], probs[index], tokens[index], unknown[index], predictor.labels, seed)


def test_same_distribution_rarely_alerts(pool):
    reference = pool[1]
    rng = np.random.default_rng(0)
    statuses = [
        check_batch(reference, _profile(pool, rng.choice(len(pool[2]), 1000, replace=False), s), Thresholds()).status
        for s in range(100)
    ]
    ok = statuses.count("ok")
    print(f"same-distribution batches of 1,000: {ok}/100 ok (false-alarm rate {100 - ok}%)")
    assert ok >= 95


def _by_class(pool, positives: int, negatives: int, seed: int) -> np.ndarray:
    predicted = pool[3].argmax(axis=1)
    rng = np.random.default_rng(seed)
    pos = rng.choice(np.flatnonzero(predicted == 1), positives, replace=False)
    neg = rng.choice(np.flatnonzero(predicted == 0), negatives, replace=False)
    return np.concatenate([pos, neg])


def test_class_shift_from_50_50_to_80_20_is_drift(pool):
    reference = _profile(pool, _by_class(pool, 1000, 1000, seed=1))
    balanced = check_batch(reference, _profile(pool, _by_class(pool, 500, 500, seed=2)), Thresholds())
    assert balanced.status == "ok"
    report = check_batch(reference, _profile(pool, _by_class(pool, 800, 200, seed=3)), Thresholds())
    checks = {c.name: c for c in report.checks}
    assert report.status == "drift"
    assert checks["prediction_drift"].status == "drift"
    assert checks["prediction_drift"].numbers["psi"] > 0.25
    assert checks["majority_class"].status == "drift"


def _foreign(pool, texts: list[str]) -> dict:
    predictor = pool[0]
    probs, tokens, unknown = predictor.probabilities(texts)
    return build_profile(texts, probs, tokens, unknown, predictor.labels)


def test_long_formal_text_is_input_drift(pool):
    rng = np.random.default_rng(2)
    words = FORMAL.split()
    texts = [" ".join(rng.permutation(words)) for _ in range(1000)]
    report = check_batch(pool[1], _foreign(pool, texts), Thresholds())
    checks = {c.name: c for c in report.checks}
    assert checks["input_drift"].status == "drift"
    assert checks["input_drift"].numbers["token_length_psi"] > 0.25


def test_unknown_words_are_input_drift(pool):
    texts = [f"𓀀𓀁 𓂀 ꙮ {i} ꙮ𓃰" for i in range(1000)]
    report = check_batch(pool[1], _foreign(pool, texts), Thresholds())
    input_check = {c.name: c for c in report.checks}["input_drift"]
    assert input_check.status == "drift"
    assert input_check.numbers["unknown_token_share"] > 0.5


def test_small_batches_are_not_judged(pool):
    report = check_batch(pool[1], _profile(pool, np.arange(50)), Thresholds())
    assert report.status == "too_few"
    assert {c.status for c in report.checks} == {"too_few"} and "too few to judge" in report.checks[0].message


def test_performance_check_uses_holdout(pool):
    reference = Profile.model_validate(
        {**pool[1].as_dict(), "metrics": {"holdout": {"accuracy": 0.9, "macro_f1": 0.9}}}
    )
    batch = _profile(pool, np.arange(1000))
    worse = check_batch(reference, batch, Thresholds(), {"accuracy": 0.8, "macro_f1": 0.8, "n": 1000})
    same = check_batch(reference, batch, Thresholds(), {"accuracy": 0.89, "macro_f1": 0.9, "n": 1000})
    assert {c.name: c.status for c in worse.checks}["performance"] == "drift"
    assert {c.name: c.status for c in same.checks}["performance"] == "ok"
