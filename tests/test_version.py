"""The version folder's contract: every shape a release has written still loads, through one loader."""

from __future__ import annotations

import json
import shutil

import pytest

from sentiops.inference import Predictor
from sentiops.version import Metrics, VersionFolder

# What each earlier release left out of a version folder (sentiops.version migrates on read).
FIRST_RELEASE = {  # before calibration and per-engine accuracy
    "drop_files": ["calibration.json", "model.ov-int8.xml", "model.ov-int8.bin"],
    "drop_metrics": ["backends", "calibration"],
    "drop_reference_metrics": ["calibration"],
}
CALIBRATION_RELEASE = {  # calibrated, before per-engine accuracy
    "drop_files": ["calibration.json", "model.ov-int8.xml", "model.ov-int8.bin"],
    "drop_metrics": ["backends"],
    "drop_reference_metrics": [],
}


def _older(registry, number: str, shape: dict) -> VersionFolder:
    folder = registry.versions_dir / number
    shutil.copytree(registry.path("1"), folder)
    for name in shape["drop_files"]:
        (folder / name).unlink()
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in shape["drop_metrics"]:
        del metrics[key]
    (folder / "metrics.json").write_text(json.dumps(metrics))
    reference = json.loads((folder / "reference.json").read_text())
    for key in shape["drop_reference_metrics"]:
        del reference["metrics"][key]
    (folder / "reference.json").write_text(json.dumps(reference))
    files = VersionFolder(folder)
    files.write_checksums()
    return files


@pytest.mark.parametrize(("shape", "calibrated"), [(FIRST_RELEASE, False), (CALIBRATION_RELEASE, True)])
def test_an_earlier_shape_loads_migrated(registry, shape, calibrated):
    files = _older(registry, "7", shape)
    files.verify()
    metrics = files.metrics()
    parity = metrics.parity
    # per-engine accuracy comes from the parity numbers those releases wrote
    assert set(metrics.backends) == {"ort-fp32", "ort-int8"}
    assert metrics.backends["ort-int8"].validation_accuracy == parity.int8_validation_accuracy
    assert metrics.backends["ort-fp32"].validation_accuracy == parity.fp32_validation_accuracy
    assert (metrics.temperature is not None) == calibrated
    reference = files.reference()
    assert reference is not None and reference.holdout["accuracy"] == metrics.holdout.accuracy
    assert (reference.temperature is not None) == calibrated
    assert files.calibration_texts() == []
    predictor = Predictor.load(registry, "7", backend="auto")
    assert predictor.backend in ("ort-fp32", "ort-int8", "openvino-fp32")
    assert len(predictor.predict(["fine"])) == 1


def test_a_folder_without_metrics_or_training_files_reads_as_empty_models(tmp_path):
    files = VersionFolder(tmp_path)
    assert files.metrics().holdout is None and files.metrics().backends == {}
    assert files.training().max_length == 64 and files.training().parent_version is None
    assert files.labels().labels == ["negative", "positive"]
    assert files.labels().score_columns == ["score_negative", "score_positive"]
    assert files.reference() is None


def test_writing_keeps_what_the_writer_knew_and_nothing_more(tmp_path):
    written = {"validation": {"n": 3, "accuracy": 1.0, "macro_f1": 1.0}, "future_block": {"x": 1}}
    files = VersionFolder(tmp_path)
    files.write_metrics(Metrics.model_validate(written))
    assert json.loads((tmp_path / "metrics.json").read_text()) == written  # unknown fields kept, no defaults added


def test_checksums_are_sha256sum_lines(registry):
    folder = registry.path("1")
    lines = (folder / "CHECKSUMS").read_text().splitlines()
    assert lines and all(len(line.split("  ", 1)[0]) == 64 for line in lines)
    assert any(line.endswith("  model.onnx") for line in lines)
