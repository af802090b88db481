"""The training pipeline on the tiny random BERT: version contents, metrics, parity, loading."""

import json

import numpy as np
import pytest

from sentiops.inference import Predictor
from sentiops.registry import ChecksumError

EXPECTED_FILES = {
    "model.onnx",
    "model.int8.onnx",
    "tokenizer.json",
    "labels.json",
    "metrics.json",
    "reference.json",
    "training.json",
    "CHECKSUMS",
    "hf/config.json",
    "hf/model.safetensors",
    "validation_confusion.png",
    "validation_reliability.png",
    "holdout_confusion.png",
}


def test_version_is_complete_and_production(registry):
    assert registry.aliases() == {"production": "1"}
    folder = registry.verify("1")
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert files >= EXPECTED_FILES
    # No pickles. OpenVINO's IR keeps raw weights in a .bin beside its .xml: not a pickle.
    assert not any(name.endswith((".pkl", ".pickle", ".bin", ".pt")) for name in files - {"model.ov-int8.bin"})
    assert {"calibration.json", "model.ov-int8.xml", "model.ov-int8.bin"} <= files
    training = json.loads((folder / "training.json").read_text())
    assert training["parent_version"] is None
    assert training["data"]["manifest_sha256"]
    assert training["loss_history"][-1] < training["loss_history"][0]


def test_metrics_and_parity(registry):
    metrics = json.loads((registry.path("1") / "metrics.json").read_text())
    for split in ("validation", "holdout"):
        report = metrics[split]
        assert report["n"] == 150
        assert set(report) >= {"accuracy", "macro_f1", "roc_auc", "ece", "per_class", "confusion_matrix"}
        assert np.sum(report["confusion_matrix"]) == 150
    # the tiny model does learn something from 2,400 tweets
    assert metrics["validation"]["accuracy"] > 0.6
    parity = metrics["parity"]
    assert parity["max_abs_logit_diff_fp32_onnx_vs_torch"] < 1e-3
    assert parity["int8_fp32_agreement"] >= 0.9


def test_predictor_loads_production_and_keeps_order(registry):
    # fp32: results must not depend on batch composition (int8 scales activations per batch)
    predictor = Predictor.load(registry, backend="ort-fp32")
    texts = ["i love this so much, best day ever", "x", "worst day ever, i hate it " * 20, ""]
    results = predictor.predict(texts)
    assert [r.label in ("negative", "positive") for r in results] == [True] * 4
    assert all(abs(sum(r.scores.values()) - 1) < 1e-5 for r in results)
    assert results[2].tokens == predictor.max_length  # truncated
    single = [predictor.predict([t])[0] for t in texts]
    assert [r.label for r in single] == [r.label for r in results]
    np.testing.assert_allclose([r.confidence for r in single], [r.confidence for r in results], atol=1e-5)


def test_tampered_model_refused(registry):
    target = registry.path("1") / "model.int8.onnx"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="model.int8.onnx"):
        Predictor.load(registry)


def test_training_is_reproducible(tiny_base_model, prepared_data):
    from sentiops.data.store import read_split
    from sentiops.training.finetune import TrainOptions, fine_tune

    table = read_split(prepared_data, "train").slice(0, 128)
    texts, labels = table.column("text").to_pylist(), table.column("label").to_pylist()
    options = TrainOptions(base_model=str(tiny_base_model), batch_size=16, learning_rate=1e-3, seed=5)
    first = fine_tune(texts, labels, str(tiny_base_model), options)
    second = fine_tune(texts, labels, str(tiny_base_model), options)
    assert first.losses == second.losses
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert (a == b).all()


def test_label_smoothing_changes_the_training_loss(tiny_base_model, prepared_data):
    # The same data, seed and model: smoothed targets give the Trainer another loss from the first
    # step (hard targets can reach a loss near 0, smoothed ones cannot), and the record keeps it.
    from sentiops.data.store import read_split
    from sentiops.training.finetune import TrainOptions, fine_tune, training_record

    table = read_split(prepared_data, "train").slice(0, 128)
    texts, labels = table.column("text").to_pylist(), table.column("label").to_pylist()
    base = {"base_model": str(tiny_base_model), "batch_size": 16, "learning_rate": 1e-3, "seed": 5}
    plain = fine_tune(texts, labels, str(tiny_base_model), TrainOptions(**base))
    options = TrainOptions(**base, label_smoothing=0.2)
    smoothed = fine_tune(texts, labels, str(tiny_base_model), options)
    assert plain.losses != smoothed.losses
    assert training_record(smoothed, options, {}).options["label_smoothing"] == 0.2


def test_one_class_data_is_refused(tiny_base_model):
    from sentiops.training.finetune import TrainOptions, fine_tune

    with pytest.raises(ValueError, match="one class"):
        fine_tune(["a", "b"], [1, 1], str(tiny_base_model), TrainOptions())
