"""A production baseline: a class balance that differs from training but is stable stops alarming."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sentiops.cli import app
from sentiops.monitoring.check import run_drift_check
from sentiops.scoring import job, runs
from tests.helpers.data import sample_rows, write_csv
from tests.scoring.test_batch import settings_for


def _day(tmp_path, index: int):
    rows = sample_rows()[6000:]
    positives = [r for r in rows if r[0] == "4"][index * 1500 : index * 1500 + 1500]
    negatives = [r for r in rows if r[0] == "0"][index * 500 : index * 500 + 500]
    return write_csv(tmp_path / f"day{index}.csv", positives + negatives)  # 75% positive, every day


def test_a_stable_prior_that_differs_from_training_stops_alarming_once_it_is_the_baseline(
    tmp_path, registry_dir, monkeypatch
):
    settings = settings_for(tmp_path, registry_dir, backend="ort-fp32")  # one engine for every day
    dates = [f"2026-09-0{i + 1}" for i in range(4)]
    for i, date in enumerate(dates):
        job.run_batch(settings, runs.BatchOptions([_day(tmp_path, i)], date))
    before = run_drift_check(settings, dates[3], notify=False)
    assert before.report.against == "training reference"
    assert before.report.status in ("warning", "drift")  # 75/25 against a balanced reference

    monkeypatch.setenv("SENTIOPS_HOME", str(settings.home))
    monkeypatch.setenv("SENTIOPS_REGISTRY_DIR", str(registry_dir))
    monkeypatch.setenv("SENTIOPS_RESULTS_DIR", str(settings.results))
    from sentiops.config import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["drift", "baseline", "--dates", f"{dates[0]}..{dates[2]}"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "3 days, 6000 rows" in result.output

    after = run_drift_check(settings, dates[3], notify=False)
    assert after.report.against == "production baseline"
    # The distribution checks now compare with production's own balance and stop alarming; the
    # performance estimate stays against the labelled holdout (a baseline has no labels), so a
    # prior that costs this model accuracy keeps saying so: it is the same as before.
    checks = {c.name: c for c in after.report.checks}
    distribution = {name: c for name, c in checks.items() if name not in ("performance", "estimated_performance")}
    assert {"prediction_drift", "majority_class", "confidence_drift"} <= set(distribution)
    statuses = [(c.name, c.status, c.message) for c in checks.values()]
    assert all(c.status == "ok" for c in distribution.values()), statuses
    earlier = {c.name: c for c in before.report.checks}
    if "estimated_performance" in checks:
        assert checks["estimated_performance"].numbers == earlier["estimated_performance"].numbers
    record = json.loads((settings.results / "drift" / "date=2026-09-04" / "drift.json").read_text())
    assert record["baseline"]["dates"] == dates[:3]
    assert record["training_reference"]["status"] in ("warning", "drift")  # still shown beside it


def test_the_drift_check_reads_a_day_in_bounded_chunks_and_profiles_it_as_a_whole(tmp_path, registry_dir, monkeypatch):
    """The drift step runs in the last shard's pod: its memory must not grow with the day."""
    import numpy as np
    import pyarrow.parquet as pq

    from sentiops.monitoring import profile as profile_module
    from sentiops.monitoring import scored
    from sentiops.monitoring.profile import build_profile

    settings = settings_for(tmp_path, registry_dir)
    job.run_batch(settings, runs.BatchOptions([_day(tmp_path, 0)], "2026-09-20"))
    seen: list[int] = []
    real_add = profile_module.ProfileBuilder.add

    def add(self, texts, probs, tokens, unknown):
        seen.append(len(texts))
        real_add(self, texts, probs, tokens, unknown)

    monkeypatch.setattr(scored, "CHUNK_ROWS", 64)
    monkeypatch.setattr(scored.iter_scored, "__defaults__", (64,))
    monkeypatch.setattr(profile_module.ProfileBuilder, "add", add)
    outcome = run_drift_check(settings, "2026-09-20", notify=False)
    assert len(seen) > 1 and max(seen) <= 64 and sum(seen) == outcome.report.n
    # chunk by chunk, the same summary as the whole day at once
    table = pq.read_table(settings.results / "scores" / "date=2026-09-20")
    probs = np.stack([table.column("score_negative").to_numpy(), table.column("score_positive").to_numpy()], 1)
    whole = build_profile(
        table.column("text").to_pylist(),
        probs,
        table.column("tokens").to_numpy(),
        table.column("unknown_tokens").to_numpy(),
        ["negative", "positive"],
    )
    record = json.loads((settings.results / "drift" / "date=2026-09-20" / "drift.json").read_text())
    shares = next(c for c in record["checks"] if c["name"] == "prediction_drift")["numbers"]["batch_shares"]
    assert shares == {k: round(v, 4) for k, v in whole.class_shares.items()}
