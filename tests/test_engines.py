"""Engines behind the Predictor: each agrees with fp32 as measured at packaging, `auto` picks the
fastest accurate one and falls back cleanly, old versions still load, threads follow the quota."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

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


def test_two_threads_on_one_model_at_once_both_get_their_answers(registry, engine):
    """A live trial scores on one staging model from two threads (a canary answer on the
    micro-batcher's, the shadow's): neither may fail ("Infer Request is busy") nor read the
    other's output."""
    predictor = Predictor.from_folder(registry.verify("1"), backend=engine)
    chunks = [TEXTS[i * 8 : i * 8 + 8] for i in range(12)]
    expected = [predictor.probabilities(chunk)[0] for chunk in chunks]

    def score(order: list[int]) -> list[tuple[int, np.ndarray]]:
        return [(i, predictor.probabilities(chunks[i])[0]) for i in order for _ in range(3)]

    with ThreadPoolExecutor(2) as pool:
        both = [pool.submit(score, list(range(12))), pool.submit(score, list(range(11, -1, -1)))]
        results = [r for future in both for r in future.result()]
    for i, probabilities in results:
        np.testing.assert_allclose(probabilities, expected[i], atol=1e-5)


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


def _set_backend(folder, backend: str, **values) -> None:
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["backends"][backend].update(values)
    for name, value in values.items():
        if value is None:
            del metrics["backends"][backend][name]
    (folder / "metrics.json").write_text(json.dumps(metrics))
    write_checksums(folder)


def test_packaging_records_each_engine_paired_with_fp32(registry):
    backends = registry.folder("1").metrics().backends
    n = registry.folder("1").metrics().validation.n
    for name, entry in backends.items():
        assert entry.n == n and entry.only_engine_right is not None and entry.only_fp32_right is not None, name
        assert 0 <= entry.mcnemar_p <= 1
    assert backends["ort-fp32"].only_engine_right == backends["ort-fp32"].only_fp32_right == 0


def test_an_engine_shown_less_accurate_than_fp32_is_not_chosen(registry):
    folder = registry.path("1")
    _set_backend(folder, "openvino-int8", only_fp32_right=30, only_engine_right=5)  # McNemar p ~ 1e-5
    predictor = Predictor.from_folder(folder, backend="auto")
    assert predictor.backend != "openvino-int8"
    reason = predictor.choice["excluded"]["openvino-int8"]
    assert "30 rows only fp32 right, 5 only this engine" in reason and "McNemar p 0.0000" in reason


def test_an_engine_a_few_tweets_behind_fp32_is_not_excluded_for_noise(registry):
    # 2,000 rows, 98.7% agreement: fp32 alone right on 17, the engine alone on 9 (0.4 points):
    # the flat 0.3-point rule excluded this; McNemar's p is 0.17, no evidence of a worse engine.
    folder = registry.path("1")
    reference = registry.folder("1").metrics().backends["ort-fp32"].validation_accuracy
    _set_backend(folder, "ort-int8", validation_accuracy=reference - 0.004, only_fp32_right=17, only_engine_right=9)
    kept, excluded = inference.accurate_enough(folder, ["ort-fp32", "ort-int8"])
    assert kept == ["ort-fp32", "ort-int8"] and excluded == {}


def test_versions_without_paired_counts_keep_the_flat_rule(registry):
    folder = registry.path("1")
    reference = registry.folder("1").metrics().backends["ort-fp32"].validation_accuracy
    _set_backend(folder, "ort-int8", validation_accuracy=reference - 0.01, only_fp32_right=None, only_engine_right=None)
    kept, excluded = inference.accurate_enough(folder, ["ort-fp32", "ort-int8"])
    assert kept == ["ort-fp32"] and "validation accuracy" in excluded["ort-int8"]


def test_the_choice_is_cached_per_version_and_cpu(registry, tmp_path, monkeypatch):
    folder, cache = registry.verify("1"), tmp_path / "engines"
    opened: list[str] = []
    real = inference.open_engine

    def counting(folder, backend, threads=0, spinning=True):
        opened.append(backend)
        return real(folder, backend, threads, spinning)

    monkeypatch.setattr(inference, "open_engine", counting)
    first = Predictor.from_folder(folder, backend="auto", choice_cache=cache)
    timed = len(opened)
    assert timed == len(first.choice["texts_per_second"]) >= 2 and len(list(cache.glob("*.json"))) == 1
    second = Predictor.from_folder(folder, backend="auto", choice_cache=cache)
    assert opened[timed:] == [first.backend]  # only the chosen engine opens: nothing is timed again
    assert second.backend == first.backend and second.choice["cached"] is True
    assert second.choice["texts_per_second"] == first.choice["texts_per_second"]

    monkeypatch.setattr(inference, "cpu_signature", lambda threads: "another CPU [avx2] x2")
    third = Predictor.from_folder(folder, backend="auto", choice_cache=cache)
    assert "cached" not in third.choice and len(list(cache.glob("*.json"))) == 2  # timed again there


def test_a_broken_or_read_only_cache_only_costs_a_timing(registry, tmp_path):
    folder, cache = registry.verify("1"), tmp_path / "engines"
    Predictor.from_folder(folder, backend="auto", choice_cache=cache)
    [file] = cache.glob("*.json")
    for broken in ("{not json", "[1, 2]"):  # not JSON; JSON but not a choice
        file.write_text(broken)
        predictor = Predictor.from_folder(folder, backend="auto", choice_cache=cache)
        assert "cached" not in predictor.choice and predictor.backend in predictor.choice["texts_per_second"]
    blocked = tmp_path / "not-a-folder"  # a cache that cannot be written (root ignores chmod)
    blocked.write_text("")
    unwritable = Predictor.from_folder(folder, backend="auto", choice_cache=blocked)
    assert unwritable.choice["mode"] == "auto" and unwritable.backend in unwritable.choice["texts_per_second"]


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
