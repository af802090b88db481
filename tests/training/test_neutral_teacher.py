"""A teacher that learned three classes from people's labels, and a student distilled from it:
the teacher leaves the gate's held-back share out and labels with one probability per class; a
distilled retrain trains people's labels as they are and the teacher's probabilities on the
replayed and unlabelled rows, never on a text people labelled or the held-back share."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sentiops.cli import app
from sentiops.config import TEACHER_LABELS_FILE, get_settings
from sentiops.data.feedback_reader import trusted_labels
from sentiops.data.labels import LABELS
from sentiops.data.store import read_split
from sentiops.data.trusted import held_back, share_for
from sentiops.registry import Registry
from sentiops.text import dedup_key
from sentiops.training.distill import label_texts, read_teacher_labels, train_teacher_on_labels
from sentiops.training.finetune import TrainOptions, soft_rows
from sentiops.training.retrain import RetrainError, RetrainOptions, gather_data, retrain
from tests.helpers.neutral import people_labels
from tests.training.test_retraining import RELAXED, TINY, _settings


@pytest.fixture(scope="module")
def labelled_home(tmp_path_factory, prepared_data, _trained_registry):
    """(settings, teacher record): people's labels (400 neutral) and a three-class teacher."""
    root = tmp_path_factory.mktemp("teacher-home")
    shutil.copytree(prepared_data, root / "data")
    shutil.copytree(_trained_registry, root / "registry")
    relaxed = {**RELAXED, "retrain_holdout_guard_margin": 1.0}
    settings = _settings(root, root / "data", root / "registry", **relaxed, neutral_min_labels=100)
    people_labels(settings, 400)
    base = Registry(root / "registry").folder("1").path / "hf"  # a small BERT: the mechanics are under test
    options = TrainOptions(str(base), 0, 2, 32, 3e-3, 48, 3)
    record = train_teacher_on_labels(
        settings.data, settings.teacher, options, settings.retrain_trusted_share, 60, settings.neutral_min_labels
    )
    return settings, record


def test_the_teacher_learns_three_classes_from_people_without_the_held_back_share(labelled_home):
    settings, record = labelled_home
    people = trusted_labels(settings.data).column("text").to_pylist()
    share = share_for(people, settings.retrain_trusted_share, 60)
    held = sum(held_back(t, share) for t in people)
    assert record["classes"] == list(LABELS) and record["source"] == "people's trusted labels"
    assert record["trusted_share"] == share and record["examples"] == len(people) - held
    assert record["trusted_eval"]["rows"] == held
    assert record["trusted_eval"]["macro_recall"] > 0.5  # it learned neutral (made-up facts) from people
    assert json.loads((settings.teacher / "teacher.json").read_text()) == record

    summary = label_texts(settings.data, settings.teacher, 300, 48)
    assert summary["classes"] == list(LABELS) and set(summary["class_shares"]) == set(LABELS)
    taught = read_teacher_labels(settings.teacher)
    assert taught.classes == LABELS and taught.probs.shape == (300, 3)
    assert np.allclose(taught.probs.sum(axis=1), 1, atol=1e-3)
    p_positive = pq.read_table(settings.teacher / TEACHER_LABELS_FILE).column("p_positive").to_numpy()
    assert np.allclose(p_positive, taught.probs[:, LABELS.index("positive")])


def test_too_few_neutral_labels_make_a_binary_teacher(tmp_path, prepared_data, registry):
    settings = _settings(tmp_path, tmp_path / "data", registry.root, neutral_min_labels=100)
    shutil.copytree(prepared_data, settings.data)
    people_labels(settings, 40)
    options = TrainOptions(str(registry.folder("1").path / "hf"), 0, 1, 32, 3e-3, 48, 3)
    record = train_teacher_on_labels(settings.data, tmp_path / "teacher", options, 0.25, 60, 100)
    assert record["classes"] == ["negative", "positive"]


def _write_teacher_labels(folder, rows: list[tuple[str, list[float], str]], classes=LABELS) -> None:
    texts, probs, sources = zip(*rows, strict=True)
    meta = {"classes": list(classes), "teacher_created": "2026-12-01T00:00:00Z"}
    table = pa.table(
        {
            "text": list(texts),
            "p_positive": pa.array([p[1] for p in probs], pa.float32()),
            "probs": pa.array([list(p) for p in probs], pa.list_(pa.float32())),
            "source": list(sources),
        },
        metadata={"sentiops.teacher": json.dumps(meta)},
    )
    pq.write_table(table, folder / TEACHER_LABELS_FILE)


def test_a_distilled_retrain_keeps_peoples_labels_and_takes_the_teachers_elsewhere(tmp_path, labelled_home):
    settings, _ = labelled_home
    home = tmp_path / "home"
    shutil.copytree(settings.data, home / "data")
    shutil.copytree(settings.registry, home / "registry")
    relaxed = {**RELAXED, "retrain_holdout_guard_margin": 1.0}
    local = _settings(home, home / "data", home / "registry", **relaxed, neutral_min_labels=100)
    local.teacher.mkdir(parents=True)
    people = trusted_labels(local.data).column("text").to_pylist()
    labelled = people[:5]  # people labelled these: their labels train, not the teacher's
    fresh = [f"the {i} o'clock ferry leaves from pier {i}" for i in range(40)]
    share = share_for(people, local.retrain_trusted_share, local.retrain_trusted_eval_floor)
    unseen = [t for t in fresh if not held_back(t, share)]
    train_texts = read_split(local.data, "train").column("text").to_pylist()[:3000]
    odd = [0.2, 0.1, 0.7]
    rows = [(t, odd, "traffic") for t in labelled + fresh] + [(t, [0.5, 0.3, 0.2], "train") for t in train_texts]
    _write_teacher_labels(local.teacher, rows)

    options = RetrainOptions(**{**vars(TINY), "distill": True})
    data = gather_data(local, Registry(local.registry), "1", options)
    texts = data["train"].column("text").to_pylist()
    targets = data["targets"]
    by_text = dict(zip(texts, targets.tolist(), strict=True))
    assert all(np.allclose(by_text[t], odd) for t in unseen)  # unlabelled traffic: the teacher's view
    assert not any(held_back(t, share) for t in texts)  # the gate's share never trains
    assert data["rows"]["teacher_traffic"] == len(unseen)
    assert data["rows"]["replay"] == data["rows"]["new_train"]  # replay share 0.5, from the teacher's rows
    for text in labelled:
        if text in by_text:
            assert sorted(by_text[text]) == [0, 0, 1]  # a person's label, one-hot
    replayed = [t for t in texts if t in set(train_texts) - set(people)]
    assert replayed and all(np.allclose(by_text[t], [0.5, 0.3, 0.2]) for t in replayed)
    # The prior correction reads the soft targets: replay now holds some neutral.
    assert data["priors"]["train"][LABELS.index("neutral")] > 0.2

    decision = retrain(local, options)
    registry = Registry(local.registry)
    lineage = registry.training(decision.challenger).data
    assert registry.folder(decision.challenger).labels().labels == list(LABELS)
    assert lineage.model_extra["teacher"]["rows"] == {"traffic": len(unseen), "train": data["rows"]["replay"]}
    assert lineage.model_extra["teacher"]["labels_sha256"]


def test_a_teacher_without_the_challengers_classes_stops_the_retrain(tmp_path, labelled_home):
    settings, _ = labelled_home
    home = tmp_path / "home"
    shutil.copytree(settings.data, home / "data")
    shutil.copytree(settings.registry, home / "registry")
    local = _settings(home, home / "data", home / "registry", neutral_min_labels=100)
    local.teacher.mkdir(parents=True)
    _write_teacher_labels(local.teacher, [("a tweet", [0.4, 0.6], "train")], classes=LABELS[:2])
    before = sorted(p.name for p in (home / "registry" / "versions").iterdir())
    with pytest.raises(RetrainError, match="--from-labels"):
        retrain(local, RetrainOptions(**{**vars(TINY), "distill": True}))
    assert sorted(p.name for p in (home / "registry" / "versions").iterdir()) == before


def test_soft_targets_are_rows_per_class_or_p_positive():
    assert soft_rows(np.array([0.25]), 2) == [[0.75, 0.25]]
    assert np.allclose(soft_rows(np.array([[0.2, 0.2, 0.5]]), 3), [[2 / 9, 2 / 9, 5 / 9]])  # renormalised
    with pytest.raises(ValueError, match="3 classes"):
        soft_rows(np.array([[0.5, 0.5]]), 3)


def test_old_teacher_labels_read_as_the_binary_pair(tmp_path):
    table = pa.table({"text": ["x", "y"], "p_positive": pa.array([0.9, 0.2], pa.float32()), "source": ["train"] * 2})
    pq.write_table(table, tmp_path / TEACHER_LABELS_FILE)
    taught = read_teacher_labels(tmp_path)
    assert taught.classes == ("negative", "positive")
    assert np.allclose(taught.probs, [[0.1, 0.9], [0.8, 0.2]])
    assert dedup_key(taught.texts[0]) == dedup_key("x")


def test_the_commands_train_a_teacher_from_labels_then_distill(tmp_path, monkeypatch, labelled_home):
    settings, _ = labelled_home
    home = tmp_path / "home"
    shutil.copytree(settings.data, home / "data")
    shutil.copytree(settings.registry, home / "registry")
    env = {
        "SENTIOPS_HOME": str(home),
        "SENTIOPS_NEUTRAL_MIN_LABELS": "100",
        "SENTIOPS_RETRAIN_MARGIN": "1.0",
        "SENTIOPS_RETRAIN_MIN_GAIN": "-1.0",
        "SENTIOPS_RETRAIN_BEHAVIOUR_TOLERANCE": "1.0",
        "SENTIOPS_RETRAIN_MIN_AGREEMENT": "0.0",
        "SENTIOPS_RETRAIN_HOLDOUT_GUARD_MARGIN": "1.0",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    small = ["--max-examples", "1200", "--epochs", "2", "--learning-rate", "0.003", "--json"]
    try:
        result = CliRunner().invoke(app, ["retrain", "--distill", *small])
        assert result.exit_code == 2 and "teacher train --from-labels" in result.output  # no teacher yet
        base = str(Registry(home / "registry").folder("1").path / "hf")
        result = CliRunner().invoke(
            app, ["teacher", "train", "--from-labels", "--base-model", base, "--label-texts", "500", *small[2:]]
        )
        assert result.exit_code == 0, result.output
        record = json.loads(result.output[result.output.index("{") :])
        assert record["classes"] == list(LABELS) and record["labels"]["rows"]["train"] == 500
        result = CliRunner().invoke(app, ["retrain", "--distill", *small])
        assert result.exit_code == 0, result.output
    finally:
        get_settings.cache_clear()
    decision = json.loads(result.output[result.output.index("{") :])
    lineage = Registry(home / "registry").training(decision["challenger"]).data.model_extra
    assert lineage["teacher"]["classes"] == list(LABELS) and lineage["teacher"]["rows"]["train"] > 0
