"""Distillation on the tiny BERT: the teacher's folder and labels, a student that learns the
teacher's probabilities (not the emoticons), traffic texts, smaller students, and failures that
leave the previous teacher's files as they were."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sentiops.cli import app
from sentiops.config import TEACHER_LABELS_FILE, get_settings
from sentiops.data.predictions import new_prediction_id
from sentiops.data.store import read_split
from sentiops.data.trusted import held_back
from sentiops.inference import Prediction, Predictor
from sentiops.registry import Registry
from sentiops.serving.prediction_log import Logged, PredictionLog
from sentiops.training import distill
from sentiops.training.distill import TeacherError, label_texts, read_teacher_labels, train_teacher, unpack_split_zip
from sentiops.training.finetune import TrainOptions
from sentiops.training.train import train
from tests.helpers.serving import make_settings


def _options(base, **overrides) -> TrainOptions:
    values = dict(base_model=str(base), max_examples=1600, epochs=2, learning_rate=3e-3, max_length=48, seed=1)
    return TrainOptions(**{**values, **overrides})


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tiny_base_model, prepared_data):
    folder = tmp_path_factory.mktemp("teacher")
    record = train_teacher(prepared_data, folder, _options(tiny_base_model))
    return folder, record


def _accuracy(registry: Registry, version: str, data) -> float:
    table = read_split(data, "validation")
    predicted = [
        p.label
        for p in Predictor.from_folder(registry.path(version), version).predict(table.column("text").to_pylist())
    ]
    truth = ["positive" if label == 1 else "negative" for label in table.column("label").to_pylist()]
    return float(np.mean(np.array(predicted) == np.array(truth)))


def test_a_split_zip_is_joined_in_order_and_a_bad_one_leaves_nothing(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pkg/all-mpnet/config.json", '{"model_type": "mpnet"}')
        archive.writestr("pkg/all-mpnet/1_Pooling/config.json", "{}")  # deeper: not the model's
        archive.writestr("pkg/all-mpnet/vocab.txt", "x" * 5000)
    data = buffer.getvalue()
    parts = []
    for i, start in enumerate(range(0, len(data), len(data) // 3 + 1)):
        parts.append(tmp_path / f"m.zip.{i:03d}")
        parts[-1].write_bytes(data[start : start + len(data) // 3 + 1])
    assert len(parts) == 3

    with pytest.raises((zipfile.BadZipFile, OSError)):  # parts out of order are no zip
        unpack_split_zip(list(reversed(parts)), tmp_path / "cache" / "bad")
    assert not (tmp_path / "cache" / "bad").exists()

    unpack_split_zip(parts, tmp_path / "cache" / "mpnet")
    assert json.loads((tmp_path / "cache" / "mpnet" / "config.json").read_text()) == {"model_type": "mpnet"}
    assert (tmp_path / "cache" / "mpnet" / "vocab.txt").stat().st_size == 5000
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["mpnet"]  # no work folder left


def test_a_missing_teacher_base_model_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(distill, "MPNET_PARTS", ("no-such-package-part-001",))
    with pytest.raises(TeacherError, match="make teacher-base"):
        distill.mpnet_base_model(tmp_path)


def test_the_teacher_is_measured_and_labels_the_train_split(teacher, prepared_data):
    folder, record = teacher
    assert (folder / "hf" / "config.json").is_file()
    assert json.loads((folder / "teacher.json").read_text()) == record
    assert record["examples"] == 1600 and record["validation_rows"] == 150
    assert 0.55 < record["validation_accuracy"] <= 1.0  # it learned something from the tweets

    summary = label_texts(prepared_data, folder, 1000, 48)
    table = pq.read_table(folder / TEACHER_LABELS_FILE)
    train_texts = read_split(prepared_data, "train").column("text").to_pylist()
    assert table.column("text").to_pylist() == train_texts[:1000]  # the student's rows, in its order
    p = table.column("p_positive").to_numpy()
    assert p.min() >= 0 and p.max() <= 1 and len(np.unique(p)) > 100  # probabilities, not labels
    assert summary["rows"] == {"train": 1000, "traffic": 0}
    assert json.loads(table.schema.metadata[b"sentiops.teacher"])["teacher_created"] == record["created"]


def test_the_student_learns_the_teachers_probabilities_not_the_emoticons(tmp_path, tiny_base_model, prepared_data):
    """A teacher that says the opposite of the emoticons makes a student that does too: the
    student's targets are the teacher's, whatever the split's labels say."""
    folder = tmp_path / "teacher"
    folder.mkdir()
    train_rows = read_split(prepared_data, "train").slice(0, 1600)
    import pyarrow as pa

    flipped = 1.0 - np.asarray(train_rows.column("label").to_pylist(), dtype=np.float32)
    pq.write_table(
        pa.table({"text": train_rows.column("text"), "p_positive": pa.array(0.05 + 0.9 * flipped, pa.float32())}),
        folder / TEACHER_LABELS_FILE,
    )
    registry = Registry(tmp_path / "registry")
    distant, _ = train(registry, prepared_data, _options(tiny_base_model))
    student, _ = train(registry, prepared_data, _options(tiny_base_model), teacher=folder)
    assert _accuracy(registry, distant, prepared_data) > 0.55
    assert _accuracy(registry, student, prepared_data) < 0.45
    lineage = registry.folder(student).training().data
    assert lineage.train_rows == 1600 and lineage.model_extra["teacher"]["labels_sha256"]


def test_traffic_texts_are_labelled_except_held_out_trusted_and_shadow_rows(tmp_path, teacher, prepared_data):
    folder, _ = teacher
    settings = make_settings(tmp_path / "registry", results_dir=tmp_path / "results")
    holdout_text = read_split(prepared_data, "holdout").column("text")[0].as_py()
    candidates = [f"watching the game tonight with friends number {i}" for i in range(40)]
    trusted = [t for t in candidates if held_back(t, 0.25)]
    kept = [t for t in candidates if not held_back(t, 0.25)]
    assert trusted and kept
    now = dt.datetime.now(dt.UTC)
    answer = Prediction("positive", 0.9, {"negative": 0.1, "positive": 0.9})
    entries = [
        Logged(new_prediction_id(now), now, f"r{i}", "1", "ort-int8", "production", answer, text)
        for i, text in enumerate([*candidates, holdout_text, candidates[0]])
    ]
    entries.append(
        Logged(new_prediction_id(now), now, "s", "2", "ort-int8", "shadow", answer, "only a shadow saw this")
    )
    log = PredictionLog(settings)
    log.record(entries)
    log.flush()

    summary = label_texts(
        prepared_data, folder, 100, 48, results=settings.results, trusted_share=0.25, max_traffic=1000
    )
    table = pq.read_table(folder / TEACHER_LABELS_FILE)
    traffic = [
        t
        for t, s in zip(table.column("text").to_pylist(), table.column("source").to_pylist(), strict=True)
        if s == "traffic"
    ]
    assert traffic == kept  # once each, in log order; no holdout text, trusted text or shadow row
    assert summary["rows"] == {"train": 100, "traffic": len(kept)}
    assert summary["trusted_share_excluded"] == 0.25
    # Traffic comes first: what `train --distill` reads (its first rows) holds it.
    taught = read_teacher_labels(folder, len(kept) + 10)
    assert taught.texts[: len(kept)] == kept and taught.sources[: len(kept)] == ["traffic"] * len(kept)
    # The day's batch scores are traffic too, after the API's log of that day; a text in both once.
    scores = settings.results / "scores" / f"date={now.date().isoformat()}"
    scores.mkdir(parents=True)
    batch_texts = [candidates[1], *(f"the batch day's tweet number {i}" for i in range(30))]
    pq.write_table(pa.table({"text": batch_texts, "label": ["positive"] * 31}), scores / "part-00000-of-00001.parquet")
    label_texts(prepared_data, folder, 100, 48, results=settings.results, trusted_share=0.25, max_traffic=1000)
    taught = read_teacher_labels(folder)
    from_batch = [t for t in batch_texts[1:] if not held_back(t, 0.25)]
    assert taught.texts[: len(kept) + len(from_batch)] == kept + from_batch
    # And the collection is capped (by default at a quarter of the train texts).
    capped = label_texts(prepared_data, folder, 100, 48, results=settings.results, trusted_share=0.25)
    assert capped["rows"] == {"train": 100, "traffic": 25}


def test_a_failed_labelling_leaves_the_previous_labels(tmp_path, teacher, prepared_data, monkeypatch):
    folder, _ = teacher
    label_texts(prepared_data, folder, 200, 48)
    before = (folder / TEACHER_LABELS_FILE).read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("killed mid-way")

    monkeypatch.setattr(distill, "class_probabilities", broken)
    with pytest.raises(RuntimeError):
        label_texts(prepared_data, folder, 300, 48)
    assert (folder / TEACHER_LABELS_FILE).read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["hf", TEACHER_LABELS_FILE, "teacher.json"]


def test_a_smaller_student_keeps_the_first_layers_and_serves(tmp_path, tiny_base_model, prepared_data):
    registry = Registry(tmp_path / "registry")
    version, metrics = train(registry, prepared_data, _options(tiny_base_model, layers=1))
    config = json.loads((registry.path(version) / "hf" / "config.json").read_text())
    assert config["num_hidden_layers"] == 1
    assert metrics.validation is not None and metrics.validation.accuracy > 0.5
    assert len(Predictor.from_folder(registry.path(version), version).predict(["good day", "bad day"])) == 2
    with pytest.raises(ValueError, match="--layers must be 1..2"):
        train(registry, prepared_data, _options(tiny_base_model, layers=0))


def test_train_distills_only_when_told_and_only_with_labels(
    tmp_path, monkeypatch, tiny_base_model, prepared_data, teacher
):
    home = tmp_path / "home"
    monkeypatch.setenv("SENTIOPS_HOME", str(home))
    monkeypatch.setenv("SENTIOPS_DATA_DIR", str(prepared_data))
    get_settings.cache_clear()
    common = ["train", "--base-model", str(tiny_base_model), "--max-examples", "600", "--learning-rate", "0.003"]
    try:
        result = CliRunner().invoke(app, [*common, "--distill"])
        assert result.exit_code == 1 and "sentiops teacher train" in result.output  # no labels yet
        assert not (home / "registry" / "versions").exists()

        folder, _ = teacher
        monkeypatch.setenv("SENTIOPS_TEACHER_DIR", str(folder))
        get_settings.cache_clear()
        label_texts(prepared_data, folder, 800, 48)
        assert CliRunner().invoke(app, [*common, "--distill"]).exit_code == 0
        assert CliRunner().invoke(app, common).exit_code == 0  # labels there, but not asked for
    finally:
        get_settings.cache_clear()
    registry = Registry(home / "registry")
    distilled, distant = (registry.folder(v).training().data.model_extra for v in ("1", "2"))
    assert distilled["teacher"]["rows"] == {"train": 800, "traffic": 0} and "teacher" not in distant
