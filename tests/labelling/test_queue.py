"""The queue picks what people should label: a random share, days whose drift fired, the most
uncertain; never a text already labelled or queued, never holdout or validation text."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sentiops.data.feedback import Label, add_labels, protected_keys
from sentiops.data.feedback_reader import stored_labels
from sentiops.data.store import read_split
from sentiops.labelling.picking import pick, refresh_queue
from sentiops.labelling.queue import LabelQueue, LeaseLost, UnknownItem, all_items
from sentiops.text import dedup_key
from sentiops.volume import DateFiles, drift_history
from tests.helpers.feedback import predict
from tests.labelling.conftest import TWEETS

TODAY = dt.datetime.now(dt.UTC).date()


def test_pick_mixes_random_drift_and_uncertain():
    rows = [{"date": "2026-01-01" if i < 500 else "2026-01-02", "confidence": 0.5 + i / 2000} for i in range(1000)]
    picked = pick(rows, 100, 0.3, 0.2, {"2026-01-02"}, np.random.default_rng(0))
    reasons = [r for _, r in picked]
    assert reasons.count("random") == 30 and reasons.count("drift") == 20 and reasons.count("uncertain") == 50
    assert all(row["date"] == "2026-01-02" for row, r in picked if r == "drift")
    uncertain = sorted(row["confidence"] for row, r in picked if r == "uncertain")
    # The 50 least confident rows not taken by the random and drift picks.
    taken = {id(row) for row, r in picked if r != "uncertain"}
    rest = sorted(row["confidence"] for row in rows if id(row) not in taken)
    assert uncertain == rest[:50]
    assert len({id(row) for row, _ in picked}) == 100  # no row twice
    # Never more than asked for: all random leaves no room for drift picks.
    assert [r for _, r in pick(rows, 100, 1.0, 0.2, {"2026-01-02"}, np.random.default_rng(0))] == ["random"] * 100
    # No fired day: its share goes to the uncertain ones.
    reasons = [r for _, r in pick(rows, 100, 0.3, 0.2, set(), np.random.default_rng(0))]
    assert reasons.count("drift") == 0 and reasons.count("uncertain") == 70


def test_queue_from_the_log_and_batch_scores(client, settings):
    holdout = read_split(settings.data, "holdout").column("text").to_pylist()[:5]
    answers = predict(client, settings, TWEETS[:60] + holdout + TWEETS[:3])  # repeats and protected text
    labelled = answers[0]
    person = Label("positive", prediction_id=labelled["prediction_id"], source="ui", trusted=True)
    outcome = add_labels(settings.data, settings.results, [person])
    assert outcome.accepted == 1
    # A scored batch day whose drift check fired.
    day = "2026-11-30"
    folder = DateFiles(settings.results, day).scores
    folder.mkdir(parents=True)
    batch = [f"batch tweet number {i} about the weather" for i in range(40)]
    pq.write_table(
        pa.table(
            {
                "prediction_id": [f"batch-20261130-{i:020x}" for i in range(40)],
                "model_version": ["1"] * 40,
                "label": ["positive"] * 40,
                "confidence": [0.9] * 40,
                "text": batch,
            }
        ),
        folder / "part-0.parquet",
    )
    drift_history(settings.results).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"date": [day], "status": ["drift"]}), drift_history(settings.results))

    refresh = refresh_queue(settings, dt.date(2026, 11, 30), TODAY, size=50, seed=1)
    items = all_items(settings.data)
    assert refresh.total == len(items) == 50
    known = protected_keys(settings.data) | stored_labels(settings.data).trusted_keys
    logged = {dedup_key(t) for t in TWEETS[:60]} - known
    assert refresh.candidates == len(logged) + 40  # the logged texts less the one people labelled, the batch rows
    assert {i.picked for i in items} == {"random", "drift", "uncertain"}
    assert sum(i.picked == "random" for i in items) == 15
    assert all(i.source == "batch" for i in items if i.picked == "drift")
    keys = [dedup_key(i.text) for i in items]
    assert len(set(keys)) == len(keys)
    assert not {dedup_key(t) for t in holdout} & set(keys)
    assert dedup_key(TWEETS[0]) not in keys
    # A second refresh never queues a text again.
    again = refresh_queue(settings, dt.date(2026, 11, 30), TODAY, size=500, seed=2)
    assert again.total == refresh.candidates - 50
    keys = [dedup_key(i.text) for i in all_items(settings.data)]
    assert len(set(keys)) == len(keys) == refresh.candidates


def _queue_with_items(settings, client, n=4):
    predict(client, settings, TWEETS[100 : 100 + n])
    refresh_queue(settings, TODAY, TODAY, size=n, seed=0)
    return LabelQueue(settings.data, lease_seconds=60)


def test_two_labellers_never_share_an_item_and_leases_expire(client, settings):
    queue = _queue_with_items(settings, client)
    a, _ = queue.next("a" * 32)
    b, _ = queue.next("b" * 32)
    assert a and b and a.item_id != b.item_id
    assert queue.next("a" * 32)[0] == a  # asking again keeps one's own item
    with pytest.raises(LeaseLost, match="no lease"):
        queue.held("b" * 32, a.item_id)
    with pytest.raises(UnknownItem):
        queue.held("a" * 32, "2026113012-nosuchitem")
    short = LabelQueue(settings.data, lease_seconds=0.01)
    c, _ = short.next("c" * 32)
    import time

    time.sleep(0.05)
    with pytest.raises(LeaseLost, match="expired"):
        short.held("c" * 32, c.item_id)
    d, _ = queue.next("d" * 32)
    assert d == c  # the expired lease freed the item


def test_undo_brings_back_the_last_item(client, settings):
    queue = _queue_with_items(settings, client, 3)
    with pytest.raises(UnknownItem, match="nothing to undo"):
        queue.undo("a" * 32)
    first, _ = queue.next("a" * 32)
    queue.finish("a" * 32, first.item_id, skipped=True)
    second, _ = queue.next("a" * 32)
    assert second != first
    back, _ = queue.undo("a" * 32)
    assert back == first
    assert queue.held("a" * 32, first.item_id) == first
    # The item held before the undo went back to the queue: another labeller gets it.
    assert queue.next("b" * 32)[0] == second


def test_the_daily_batch_refreshes_the_queue_with_the_scored_date(settings, tmp_path):
    import os

    from tests.helpers.cli import start_batch_run
    from tests.helpers.data import write_csv

    source = write_csv(tmp_path / "day.csv", [("0", t) for t in TWEETS[:30]])
    env = {
        **os.environ,
        "SENTIOPS_DATA_DIR": str(settings.data),
        "SENTIOPS_RESULTS_DIR": str(settings.results),
        "SENTIOPS_REGISTRY_DIR": str(settings.registry),
        "SENTIOPS_BACKEND": "ort-int8",
        "SENTIOPS_LABEL_QUEUE_SIZE": "10",
    }
    run = start_batch_run(env, "--input", str(source), "--date", "2026-11-29")
    out, _ = run.communicate(timeout=300)
    assert run.returncode in (0, 4), out
    assert "labelling queue: added 10 items" in out
    items = all_items(settings.data)
    assert len(items) == 10 and {i.date for i in items} == {"2026-11-29"} and {i.source for i in items} == {"batch"}
    assert sum(i.picked == "random" for i in items) == 3


def test_a_refresh_keeps_only_what_a_pick_can_take(settings):
    from sentiops.labelling.picking import candidates

    day = "2026-11-28"
    folder = DateFiles(settings.results, day).scores
    folder.mkdir(parents=True)
    n = 600
    pq.write_table(
        pa.table(
            {
                "prediction_id": [f"batch-20261128-{i:020x}" for i in range(n)],
                "model_version": ["1"] * n,
                "label": ["positive"] * n,
                "confidence": [0.5 + (i % 97) / 200 for i in range(n)],
                "text": [f"tweet {i} of a long day" for i in range(n)],
            }
        ),
        folder / "part-0.parquet",
    )
    date = dt.date(2026, 11, 28)
    rows, eligible = candidates(settings, date, date, 10, {day}, np.random.default_rng(0))
    assert eligible == n and len(rows) <= 30  # the 10 smallest random keys, of fired days, least confident
    # The least confident of the day are kept (calibration keeps the order of confidences).
    least = {f"batch-20261128-{i:020x}" for i in range(n) if i % 97 == 0}
    assert least <= {r["prediction_id"] for r in rows}


def test_two_refreshes_at_once_never_queue_a_tweet_twice(client, settings):
    import threading

    predict(client, settings, TWEETS[60:100])
    start = threading.Barrier(2)

    def refresh(seed: int) -> None:
        start.wait()
        refresh_queue(settings, TODAY, TODAY, size=30, seed=seed)

    threads = [threading.Thread(target=refresh, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [dedup_key(i.text) for i in all_items(settings.data)]
    assert len(keys) == len(set(keys)) and len(keys) >= 30


def test_the_queue_state_stays_bounded(settings):
    from sentiops.labelling.queue import HISTORY, SKIPS, LabelQueue

    queue = LabelQueue(settings.data, 60)
    for i in range(SKIPS + 50):
        queue.finish("ada", f"item-{i}", skipped=True)
    state = json.loads((settings.data / "queue" / "state.json").read_text())
    assert len(state["skipped"]["ada"]) == SKIPS and state["skipped"]["ada"][-1] == f"item-{SKIPS + 49}"
    assert len(state["history"]["ada"]) == HISTORY
