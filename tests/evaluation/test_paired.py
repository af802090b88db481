"""The paired comparison on constructed outcomes with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from sentiops.evaluation.paired import compare


def test_identical_models_have_a_zero_centred_interval_and_p_one():
    correct = np.random.default_rng(1).random(500) < 0.8
    result = compare(correct, correct)
    assert result.difference == 0 and result.interval == (0.0, 0.0) and result.mcnemar_p == 1.0


def test_mcnemar_matches_a_hand_computed_binomial():
    # 10 rows only the challenger gets right, 2 only the champion: two-sided exact binomial
    # P(X <= 2 or X >= 10 | n=12, p=0.5) = 2 * (1 + 12 + 66) / 4096.
    champion = np.array([0] * 10 + [1] * 2 + [1] * 88, dtype=bool)
    challenger = np.array([1] * 10 + [0] * 2 + [1] * 88, dtype=bool)
    result = compare(champion, challenger)
    assert result.mcnemar_p == pytest.approx(2 * 79 / 4096)
    assert result.difference == pytest.approx(0.08)
    assert result.interval[0] > 0  # a real, consistent gain: the whole interval is above zero


def test_noise_straddles_zero():
    rng = np.random.default_rng(7)
    truth_difficulty = rng.random(400)
    champion = truth_difficulty < 0.8 + rng.normal(0, 0.05, 400)
    challenger = truth_difficulty < 0.8 + rng.normal(0, 0.05, 400)
    low, high = compare(champion, challenger).interval
    assert low < 0 < high


def test_rows_must_pair_up():
    with pytest.raises(ValueError):
        compare(np.ones(3, bool), np.ones(4, bool))
