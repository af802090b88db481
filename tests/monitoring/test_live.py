"""Live comparison from log files as the API writes them: pairs across an hour boundary, canary
answers shadowed by production, files of earlier releases (no shadow_of), the per-model numbers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sentiops.data.predictions import SCHEMA, new_prediction_id, predictions_dir
from sentiops.inference import Prediction
from sentiops.monitoring.live import compare_live, comparison_lines
from sentiops.serving.prediction_log import Logged, PredictionLog
from tests.helpers.serving import clone_version, make_settings


def _prediction(label: str, confidence: float, order: tuple[str, str] = ("negative", "positive")) -> Prediction:
    other = 1 - confidence
    scores = {name: confidence if name == label else other for name in order}
    return Prediction(label, confidence, scores)


def test_pairs_are_found_across_hours_roles_and_old_files(tmp_path, registry_dir, registry):
    staging = clone_version(registry, "1")
    registry.set_alias("staging", staging, reason="test")
    settings = make_settings(registry_dir, results_dir=tmp_path / "results")
    log = PredictionLog(settings)
    hour = dt.datetime.now(dt.UTC).replace(minute=59, second=59, microsecond=0)
    if hour > dt.datetime.now(dt.UTC):
        hour -= dt.timedelta(hours=1)
    later = hour + dt.timedelta(seconds=2)  # the next hour's partition

    entries = []
    for i in range(10):  # production answers; staging shadows them a moment later, across the hour
        pid = new_prediction_id(hour)
        answer = _prediction("positive", 0.9)
        entries.append(Logged(pid, hour, f"r{i}", "1", "ort-int8", "production", answer, f"tweet {i}"))
        shadow = _prediction("positive" if i < 8 else "negative", 0.8, order=("positive", "negative"))
        entries.append(
            Logged(new_prediction_id(later), later, f"r{i}", staging, "ort-int8", "shadow", shadow, f"tweet {i}", pid)
        )
    for i in range(4):  # canary answers by staging, shadowed by production
        pid = new_prediction_id(hour)
        entries.append(Logged(pid, hour, f"c{i}", staging, "ort-int8", "canary", _prediction("negative", 0.7), f"t{i}"))
        entries.append(
            Logged(
                new_prediction_id(hour),
                hour,
                f"c{i}",
                "1",
                "ort-int8",
                "shadow",
                _prediction("negative", 0.6),
                f"t{i}",
                pid,
            )
        )
    log.record(entries)
    assert log.flush() == len(entries)
    # A file an earlier release wrote: no shadow_of column, no role.
    old = SCHEMA.remove(SCHEMA.get_field_index("shadow_of"))
    old = old.remove(old.get_field_index("role"))
    folder = predictions_dir(settings.results) / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    row = {
        "prediction_id": new_prediction_id(hour),
        "time": hour,
        "request_id": "old",
        "model_version": "1",
        "engine": "ort-int8",
        "label": "negative",
        "confidence": 0.5,
        "scores": [("negative", 0.5), ("positive", 0.5)],
        "text": "old",
        "text_sha256": "x",
    }
    pq.write_table(pa.Table.from_pylist([row], schema=old), folder / "old-release.parquet")

    found = compare_live(settings, since=hour - dt.timedelta(hours=1))
    assert found.pairs == 14
    assert found.agreement == 12 / 14  # two shadow answers differ
    low, high = found.agreement_interval
    assert low < 12 / 14 < high
    models = {m.alias: m for m in found.models}
    assert (models["production"].n, models["production"].answered) == (15, 11)  # 10 + the old row; 4 shadow
    assert (models["staging"].n, models["staging"].answered) == (14, 4)
    # staging wrote its scores in the other order: shares and confidence are read by label, not position
    assert models["staging"].shares == {"negative": (2 + 4) / 14, "positive": 8 / 14}
    assert abs(models["staging"].mean_confidence - (10 * 0.8 + 4 * 0.7) / 14) < 1e-6
    assert found.first_pair is not None and found.paired is None  # no labels yet
    lines = comparison_lines(found.as_dict())
    assert any("agreement 0.8571" in line and "on 14 pairs" in line for line in lines)


def test_a_prune_while_the_comparison_reads_is_tolerated(tmp_path, registry_dir, registry, monkeypatch):
    from sentiops.monitoring import live

    staging = clone_version(registry, "1")
    registry.set_alias("staging", staging, reason="test")
    settings = make_settings(registry_dir, results_dir=tmp_path / "results")
    log = PredictionLog(settings)
    now = dt.datetime.now(dt.UTC)
    for i in range(3):  # three files in this hour
        pid = new_prediction_id(now)
        answer = Logged(pid, now, f"r{i}", "1", "ort-int8", "production", _prediction("positive", 0.9), f"tweet {i}")
        shadow = _prediction("positive", 0.8)
        log.record(
            [
                answer,
                Logged(new_prediction_id(now), now, f"r{i}", staging, "ort-int8", "shadow", shadow, f"tweet {i}", pid),
            ]
        )
        log.flush()
    read = live.read_log_file
    pruned: list[Path] = []

    def pruned_meanwhile(file, columns):
        if not pruned:  # `predictions prune` takes the files away between the listing and the read
            pruned.extend(f for f in file.parent.glob("*.parquet") if f != file)
            for gone in pruned:
                gone.unlink()
        return read(file, columns)

    monkeypatch.setattr(live, "read_log_file", pruned_meanwhile)
    found = compare_live(settings)
    assert pruned and found.pairs == 1  # what was left is compared; no error
