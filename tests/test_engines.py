"""Engines behind the Predictor: each agrees with fp32 as measured at packaging, `auto` picks the
fastest accurate one and falls back cleanly, old versions still load, threads follow the quota."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sentiops import engines, inference
from sentiops.inference import Predictor
from sentiops.version import VersionFolder
from tests.helpers.data import sample_rows

TEXTS = [text for _, text in sample_rows(600)[100:600]]
ALL_ENGINES = ["ort-fp32", "ort-int8", "openvino-fp32", "openvino-bf16", "openvino-int8"]


def write_checksums(folder):
    VersionFolder(folder).write_checksums()


@pytest.fixture(params=ALL_ENGINES)
def engine(request, registry) -> str:
    """Each engine as its own test; one this CPU cannot run (bf16 without BF16 support) is skipped."""
    if request.param not in engines.eligible(registry.path("1")):
        pytest.skip(f"{request.param} cannot run on this CPU")
    return request.param


def test_packaging_measures_every_engine_this_machine_runs(registry):
    measured = registry.folder("1").metrics().backends
    assert {"ort-fp32", "ort-int8", "openvino-fp32", "openvino-int8"} <= set(measured)
    assert set(engines.eligible(registry.path("1"))) <= set(measured)


def test_the_engine_agrees_with_fp32_as_measured_at_packaging(registry, engine):
    folder = registry.verify("1")
    measured = registry.folder("1").metrics().backends[engine]
    fp32 = Predictor.from_folder(folder, backend="ort-fp32").probabilities(TEXTS)[0].argmax(1)
    predicted = Predictor.from_folder(folder, backend=engine).probabilities(TEXTS)[0].argmax(1)
    agreement = float((predicted == fp32).mean())
    assert measured.agreement_with_fp32 is not None
    assert agreement >= measured.agreement_with_fp32 - 0.03
    if engine.endswith("fp32"):
        assert agreement == 1.0  # the same weights in fp32: the same labels


def test_the_engine_pads_and_predicts_finite_scores(registry, engine):
    predictor = Predictor.from_folder(registry.verify("1"), backend=engine)
    predictions = predictor.predict(TEXTS[:40])
    assert len(predictions) == 40
    assert all(0.5 <= p.confidence <= 1.0 and abs(sum(p.scores.values()) - 1) < 1e-4 for p in predictions)


def test_auto_keeps_the_fastest_accurate_engine_and_records_why(registry):
    predictor = Predictor.from_folder(registry.verify("1"), backend="auto")
    choice = predictor.choice
    assert choice["mode"] == "auto" and choice["backend"] == predictor.backend
    assert predictor.backend == max(choice["texts_per_second"], key=choice["texts_per_second"].get)
    assert set(choice["texts_per_second"]) | set(choice["excluded"]) == set(engines.eligible(predictor.folder))


def test_auto_without_openvino_uses_onnx_runtime(registry, monkeypatch):
    monkeypatch.setattr(engines, "openvino_available", lambda: False)
    predictor = Predictor.from_folder(registry.verify("1"), backend="auto")
    assert predictor.backend in ("ort-fp32", "ort-int8")
    assert set(predictor.choice["texts_per_second"]) <= {"ort-fp32", "ort-int8"}


def test_auto_skips_an_engine_that_fails_to_load(registry, monkeypatch):
    real = inference.open_engine

    def broken_openvino(folder, backend, threads=0, spinning=True):
        if backend.startswith("openvino"):
            raise RuntimeError("plugin crashed")
        return real(folder, backend, threads, spinning)

    monkeypatch.setattr(inference, "open_engine", broken_openvino)
    predictor = Predictor.from_folder(registry.verify("1"), backend="auto")
    assert predictor.backend.startswith("ort")
    assert not any(name.startswith("openvino") for name in predictor.choice["texts_per_second"])
    assert "plugin crashed" in predictor.choice["excluded"]["openvino-fp32"]


def test_an_engine_less_accurate_than_fp32_is_not_chosen(registry):
    folder = registry.path("1")
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["backends"]["openvino-int8"]["validation_accuracy"] = (
        metrics["backends"]["ort-fp32"]["validation_accuracy"] - 0.01
    )  # a point worse than fp32
    (folder / "metrics.json").write_text(json.dumps(metrics))
    write_checksums(folder)
    predictor = Predictor.from_folder(folder, backend="auto")
    assert predictor.backend != "openvino-int8"
    assert "validation accuracy" in predictor.choice["excluded"]["openvino-int8"]


def test_a_version_packaged_before_engines_still_loads(registry):
    old = registry.versions_dir / "7"
    shutil.copytree(registry.path("1"), old)
    for name in ("calibration.json", "model.ov-int8.xml", "model.ov-int8.bin", "CHECKSUMS"):
        (old / name).unlink()
    metrics = json.loads((old / "metrics.json").read_text())
    del metrics["backends"]
    (old / "metrics.json").write_text(json.dumps(metrics))
    write_checksums(old)
    predictor = Predictor.load(registry, "7", backend="auto")
    assert predictor.backend in ("ort-fp32", "ort-int8", "openvino-fp32")
    assert len(predictor.predict(["fine"])) == 1
    with pytest.raises(FileNotFoundError, match="model.ov-int8.xml"):
        Predictor.load(registry, "7", backend="openvino-int8")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "100000 100000"}, 1),
        ({"cpu.max": "150000 100000"}, 2),
        ({"cpu.max": "max 100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"}, 1),
        ({}, None),
    ],
)
def test_threads_follow_the_container_cpu_quota(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    available = len(__import__("os").sched_getaffinity(0))
    assert engines.cpu_threads(tmp_path) == min(available, expected or available)


def test_padding_widths_follow_the_engine_step(registry):
    predictor = Predictor.from_folder(registry.verify("1"), backend="openvino-fp32")
    seen = []
    run = predictor.engine.run
    predictor.engine.run = lambda feeds: (seen.append(feeds["input_ids"].shape[1]), run(feeds))[1]
    predictor.probabilities(TEXTS[:100])
    assert seen and all(width % 8 == 0 for width in seen)
    assert np.isfinite(predictor.probabilities(TEXTS[:5])[0]).all()
