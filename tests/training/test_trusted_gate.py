"""People's labels decide: from `retrain_min_trusted` (30) trusted labels held back on, the gate
compares champion and challenger on them, the distant-label holdout guarding beside them; flipped
labels are still refused, trusted or not; the held-back share is never trained on, and is raised
while people's labels are few; every trusted label not held back trains, however many others."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from sentiops.data.feedback import Label, add_labels
from sentiops.data.feedback_reader import current_labels
from sentiops.data.trusted import held_back, share_for, trusted_eval
from sentiops.registry import Registry
from sentiops.text import dedup_key
from sentiops.training.gate import decision_lines
from sentiops.training.retrain import RetrainOptions, gather_data, retrain
from tests.helpers.data import sample_rows
from tests.training.test_retraining import RELAXED, TINY, _rewrite_feedback, _settings

PEOPLE = sample_rows(9000)[6000:7200]  # not in the prepared volume


def _trusted(settings, flip=False):
    labels = [
        Label(("negative", "positive")[(t == "4") != flip], text, source="ui", trusted=True, row=str(i))
        for i, (t, text) in enumerate(PEOPLE)
    ]
    outcome = add_labels(settings.data, settings.results, labels)
    assert outcome.accepted > 1000


def test_the_trusted_share_is_held_back_and_never_trained(tmp_path, volume, registry):
    settings = _settings(tmp_path, volume, registry.root, retrain_trusted_share=0.5)
    _trusted(settings)
    evaluation = trusted_eval(current_labels(settings.data), 0.5)
    assert 450 < evaluation.num_rows < 750  # about half, by the texts' hashes
    assert all(held_back(t, 0.5) for t in evaluation.column("text").to_pylist())
    data = gather_data(settings, registry, "1", TINY)
    assert data["evidence"] == "trusted"
    trained = {dedup_key(t) for t in data["train"].column("text").to_pylist()}
    evidence = {dedup_key(t) for t in data["newest"].column("text").to_pylist()}
    assert not trained & evidence
    # Less only the texts the champion trained on (the training split holds a few of them).
    assert evaluation.num_rows - 10 < data["rows"]["trusted_eval"] == len(evidence) <= evaluation.num_rows
    assert data["rows"]["kept_out_trusted_share"] >= len(evidence) and data["rows"]["trusted_train"] > 300
    # A smaller share is a subset: a text never moves to the other side when the share shrinks.
    assert {t for t in evaluation.column("text").to_pylist() if held_back(t, 0.3)} <= set(
        evaluation.column("text").to_pylist()
    )


def test_a_retrain_is_decided_on_trusted_labels_with_the_holdout_guard(tmp_path, volume, registry):
    settings = _settings(tmp_path, volume, registry.root, retrain_trusted_share=0.5)
    _trusted(settings)
    decision = retrain(settings, TINY)
    n = decision.numbers
    assert n["evidence"] == "trusted" and n["paired"]["n"] >= 200
    assert "trusted labels held back" in decision.reasons[0] or decision.action == "rejected"
    assert n["paired"]["n"] == n["data"]["trusted_eval"]
    assert n["holdout_guard_margin"] == settings.retrain_holdout_guard_margin
    assert "paired_holdout" in n and n["paired_holdout"]["n"] > 0
    lines = "\n".join(decision_lines(decision))
    assert "decided on people's labels held back" in lines and "holdout accuracy" in lines
    assert f"trained on {n['data']['new_train']} new labels ({n['data']['trusted_train']} of them people's" in lines
    training = Registry(settings.registry).training(decision.challenger)
    assert training.data.trusted_share == 0.5


def test_too_few_trusted_labels_leave_the_gate_as_before(tmp_path, volume, registry):
    settings = _settings(tmp_path, volume, registry.root)
    labels = [Label(("negative", "positive")[t == "4"], x, source="ui", trusted=True) for t, x in PEOPLE[:40]]
    add_labels(settings.data, settings.results, labels)
    data = gather_data(settings, registry, "1", TINY)
    # 40 people's labels: the share is raised to hold back 20 (half), still under the 30 that decide.
    assert data["evidence"] == "holdout" and data["rows"]["trusted_eval"] == 20
    assert data["trusted_share"] > settings.retrain_trusted_share
    trained = {dedup_key(t) for t in data["train"].column("text").to_pylist()}
    assert not trained & {dedup_key(t) for t in data["newest"].column("text").to_pylist()}


def test_early_labels_are_held_back_up_to_the_floor_and_train_later(tmp_path, volume, registry):
    texts = [t for _, t in PEOPLE]
    # 200 labels: the share of 0.25 holds back 45 of them; it is raised to hold back 60.
    raised = share_for(texts[:200], 0.25, 60)
    assert raised > 0.25 and sum(held_back(t, raised) for t in texts[:200]) == 60
    # A raised share holds back a superset; with 1,200 labels the configured share holds enough.
    assert {t for t in texts if held_back(t, 0.25)} <= {t for t in texts if held_back(t, raised)}
    assert share_for(texts, 0.25, 60) == 0.25
    # Never more than half: 100 labels hold back 50 (not 28), 20 hold back 10.
    assert sum(held_back(t, share_for(texts[:100], 0.25, 60)) for t in texts[:100]) == 50
    assert sum(held_back(t, share_for(texts[:20], 0.25, 60)) for t in texts[:20]) == 10
    settings = _settings(tmp_path, volume, registry.root)
    labels = [Label(("negative", "positive")[t == "4"], x, source="ui", trusted=True) for t, x in PEOPLE[:100]]
    add_labels(settings.data, settings.results, labels)
    data = gather_data(settings, registry, "1", TINY)
    assert data["evidence"] == "trusted" and 45 <= data["rows"]["trusted_eval"] <= 50
    assert data["rows"]["trusted_train"] + data["rows"]["kept_out_trusted_share"] >= 100 - 5


def test_every_trusted_label_trains_beside_the_emoticon_pool(tmp_path, volume, registry):
    """The prepared store holds thousands of emoticon-labelled feedback rows; people's labels are
    not sampled down among them."""
    settings = _settings(tmp_path, volume, registry.root)
    labels = [Label(("negative", "positive")[t == "4"], x, source="ui", trusted=True) for t, x in PEOPLE[:250]]
    add_labels(settings.data, settings.results, labels)
    data = gather_data(settings, registry, "1", RetrainOptions(max_examples=4000))
    rows = data["rows"]
    trained = {dedup_key(t) for t in data["train"].column("text").to_pylist()}
    people = {dedup_key(t) for _, t in PEOPLE[:250] if not held_back(t, data["trusted_share"])}
    assert people <= trained and rows["trusted_train"] == len(people)
    assert rows["untrusted_train"] == int(len(people) * settings.retrain_untrusted_per_trusted)
    assert rows["replay"] == rows["new_train"]  # the replay share (0.5) of the training rows
    lines = "\n".join(decision_lines(_decision_with(rows)))
    assert f"{len(people)} of them people's, every one not held back" in lines


def test_people_labels_an_earlier_version_trained_on_train_again(tmp_path, volume, registry):
    for part in (volume / "feedback").glob("*.parquet"):
        part.unlink()  # only people's labels
    settings = _settings(tmp_path, volume, registry.root, **RELAXED)
    labels = [Label(("negative", "positive")[t == "4"], x, source="ui", trusted=True) for t, x in PEOPLE[:120]]
    add_labels(settings.data, settings.results, labels)
    first = retrain(settings, RetrainOptions(max_examples=200, epochs=1, seed=3))
    assert first.action == "promoted"
    more = [Label(("negative", "positive")[t == "4"], x, source="ui", trusted=True) for t, x in PEOPLE[120:160]]
    add_labels(settings.data, settings.results, more)
    data = gather_data(settings, registry, first.challenger, TINY)
    trained = {dedup_key(t) for t in data["train"].column("text").to_pylist()}
    # The 40 new labels and the 120 the champion already learnt, less the share held back.
    expected = {dedup_key(t) for _, t in PEOPLE[:160] if not held_back(t, data["trusted_share"])}
    assert expected <= trained
    assert data["rows"]["trusted_train"] == len(expected) == 100  # 60 of 160 held back (the floor)


def _decision_with(rows):
    from sentiops.training.gate import Decision

    paired = {"interval": [0.01, 0.2], "n": 60, "difference": 0.1, "confidence": 0.95, "mcnemar_p": 0.01}
    numbers = {
        "challenger": {"holdout": {"accuracy": 0.8}, "newest": {"accuracy": 0.9}},
        "champion": {"holdout": {"accuracy": 0.8}, "newest": {"accuracy": 0.8}},
        "paired": paired,
        "behaviour": {"challenger": {"negation": {"rate": 0.9}}, "champion_agreement": 0.9},
        "evidence": "trusted",
        "holdout_guard_margin": 0.04,
        "data": rows,
    }
    return Decision("2", "1", "promoted", ["all gate checks passed"], numbers)


def test_flipped_trusted_labels_are_refused_by_the_guard(tmp_path, volume, registry):
    for part in (volume / "feedback").glob("*.parquet"):
        part.unlink()  # only people's labels, every one flipped
    settings = _settings(tmp_path, volume, registry.root, retrain_trusted_share=0.5, retrain_replay_share=0.0)
    _trusted(settings, flip=True)
    decision = retrain(settings, TINY)
    assert decision.numbers["evidence"] == "trusted"
    assert decision.action == "rejected"
    assert any("guard against gross regressions" in r for r in decision.reasons), decision.reasons
    assert Registry(settings.registry).aliases()["production"] == "1"


def test_flipped_api_labels_are_refused_on_the_trusted_set(tmp_path, volume, registry):
    flip = lambda t: t.set_column(2, "label", pc.subtract(pa.scalar(1, pa.int8()), t["label"]))  # noqa: E731
    _rewrite_feedback(volume, flip)  # the untrusted pool, flipped
    settings = _settings(tmp_path, volume, registry.root, retrain_trusted_share=0.9, retrain_replay_share=0.0)
    _trusted(settings)  # clean people's labels, nearly all held back as evidence
    decision = retrain(settings, TINY)
    assert decision.numbers["evidence"] == "trusted"
    assert decision.action == "rejected"
    assert any("trusted labels held back" in r for r in decision.reasons), decision.reasons


@pytest.fixture
def registry(registry_dir):
    return Registry(registry_dir)


@pytest.fixture
def volume(tmp_path, prepared_data):
    data = tmp_path / "data"
    shutil.copytree(prepared_data, data)
    return data
