"""Temperature scaling and the accuracy estimate without labels (CBPE), on the tiny model's
predictions for tweets it never saw."""

from __future__ import annotations

import numpy as np
import pytest

from sentiops.evaluation.calibration import (
    calibrate,
    calibrated_confidence,
    calibration_record,
    estimate_accuracy,
    fit_temperature,
)
from sentiops.inference import Predictor
from sentiops.registry import Registry
from tests.helpers.data import sample_rows


def test_temperature_recovers_a_known_miscalibration():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, size=(20000, 1))
    truth = (rng.random(20000) < 1 / (1 + np.exp(-logits[:, 0]))).astype(int)  # calibrated at T=1
    sharp = np.hstack([-3 * logits, 3 * logits]) / 2  # three times over-confident
    probs = np.exp(sharp) / np.exp(sharp).sum(axis=1, keepdims=True)
    assert fit_temperature(probs, truth) == pytest.approx(3.0, rel=0.08)
    record = calibration_record(probs, truth)
    assert record["ece_after"] < record["ece_before"]


def test_calibrate_keeps_the_predicted_class():
    probs = np.array([[0.9, 0.1], [0.3, 0.7]])
    assert (calibrate(probs, 2.5).argmax(axis=1) == probs.argmax(axis=1)).all()


def test_one_answers_calibrated_confidence_is_what_calibrate_gives():
    """The service's per-request path (plain Python) against the vectorised one, two and three
    classes, a zero score included."""
    rows = [np.array(r) for r in ([0.9, 0.1], [0.3, 0.7], [0.5, 0.5], [0.2, 0.5, 0.3], [1.0, 0.0, 0.0])]
    for temperature in (0.7, 1.0, 2.5):
        for row in rows:
            want = calibrate(row[None, :], temperature).max()
            assert calibrated_confidence(row.tolist(), temperature) == pytest.approx(want, rel=1e-9)


@pytest.fixture(scope="module")
def unseen(_trained_registry):
    rows = sample_rows()[6000:31000]  # the tiny model trained on the first 5,000
    order = np.random.default_rng(3).permutation(len(rows))
    rows = [rows[i] for i in order]
    predictor = Predictor.load(Registry(_trained_registry), backend="ort-fp32")
    probs, _, _ = predictor.probabilities([text for _, text in rows])
    labels = np.array([0 if target == "0" else 1 for target, _ in rows])
    return probs, labels


def test_estimate_is_within_3_points_of_realized_accuracy_on_same_distribution_days(unseen):
    probs, labels = unseen
    temperature = fit_temperature(probs[:10000], labels[:10000])
    for day in range(3):
        rows = slice(10000 + day * 5000, 15000 + day * 5000)
        estimate = estimate_accuracy(probs[rows], temperature)
        realized = float((probs[rows].argmax(axis=1) == labels[rows]).mean())
        assert abs(estimate["estimated_accuracy"] - realized) <= 0.03, (day, estimate, realized)
        assert estimate["low"] < estimate["estimated_accuracy"] < estimate["high"]


def test_estimate_moves_the_way_accuracy_moves_under_a_class_shift(unseen):
    probs, labels = unseen
    temperature = fit_temperature(probs[:10000], labels[:10000])
    rest, truth = probs[10000:], labels[10000:]
    predicted = rest.argmax(axis=1)
    recall = [float((predicted[truth == k] == k).mean()) for k in (0, 1)]
    worse = int(np.argmin(recall))  # a day made mostly of the class the model gets wrong more often
    rng = np.random.default_rng(5)
    pick = np.concatenate(
        [rng.choice(np.flatnonzero(truth == worse), 4000), rng.choice(np.flatnonzero(truth != worse), 1000)]
    )
    balanced = estimate_accuracy(rest[:5000], temperature)["estimated_accuracy"]
    shifted = estimate_accuracy(rest[pick], temperature)["estimated_accuracy"]
    realized_balanced = float((predicted[:5000] == truth[:5000]).mean())
    realized_shifted = float((predicted[pick] == truth[pick]).mean())
    assert realized_shifted < realized_balanced  # the shift really costs accuracy
    assert shifted < balanced  # and the estimate, without labels, sees it
