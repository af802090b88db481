"""Whose labels count: the one rule for the current label (trusted beats untrusted, then newest),
read the same way by the trusted evaluation set, the queue, realized accuracy and live pairs."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from sentiops.data.feedback import Label, add_labels
from sentiops.data.feedback_reader import all_labels, current_labels, current_rows, stored_labels
from sentiops.data.trusted import trusted_eval
from sentiops.labelling.picking import refresh_queue
from sentiops.labelling.queue import waiting_items
from sentiops.monitoring.live import _first_per_text, _Pairs
from tests.helpers.data import sample_rows
from tests.helpers.feedback import predict

TWEETS = [text for _, text in sample_rows(7400)[7300:7400]]
TODAY = dt.datetime.now(dt.UTC).date()


def _flip(label: str) -> str:
    return "negative" if label == "positive" else "positive"


def test_an_api_relabel_never_replaces_a_persons_label(client, settings):
    answers = predict(client, settings, TWEETS[:20])
    people = [Label(a["label"], prediction_id=a["prediction_id"], source="ui", trusted=True) for a in answers]
    assert add_labels(settings.data, settings.results, people).accepted == len({a["prediction_id"] for a in answers})
    # 20 flipped labels for the same predictions, sent later by an API caller.
    flipped = [{"prediction_id": a["prediction_id"], "label": _flip(a["label"])} for a in answers]
    assert client.post("/feedback", json={"items": flipped}).json()["accepted"] == 20
    current = {r["prediction_id"]: r for r in current_labels(settings.data).to_pylist() if r["prediction_id"]}
    for a in answers:
        row = current[a["prediction_id"]]
        assert row["trusted"] is True and row["label"] == (1 if a["label"] == "positive" else 0)
    # The gate's evidence keeps every person's label (share 1.0: all of them held back).
    evidence = trusted_eval(current_labels(settings.data), 1.0)
    assert evidence.num_rows == len({a["prediction_id"] for a in answers})  # every person's label, none lost
    stored = all_labels(settings.data)
    assert stored.num_rows >= 2 * evidence.num_rows  # the flips are kept (provenance), just never current


def test_a_persons_label_after_an_api_label_is_stored_not_a_conflict(client, settings):
    [answer] = predict(client, settings, TWEETS[20:21])
    client.post("/feedback", json={"prediction_id": answer["prediction_id"], "label": _flip(answer["label"])})
    person = Label(answer["label"], prediction_id=answer["prediction_id"], source="ui", trusted=True)
    outcome = add_labels(settings.data, settings.results, [person])
    assert outcome.accepted == 1 and outcome.rejected == []
    held = stored_labels(settings.data).current
    assert [(h.label, h.trusted) for h in held.values() if h.trusted] == [
        (1 if answer["label"] == "positive" else 0, True)
    ]


def test_among_labels_of_equal_trust_the_newest_wins():
    at = pa.array([1, 3, 2, None, 5], pa.timestamp("ms", tz="UTC"))
    table = pa.table(
        {
            "text": ["a", "A ", "a", "b", "b"],
            "label": pa.array([0, 1, 0, 1, 0], pa.int8()),
            "trusted": [True, True, False, True, None],
            "received_at": at,
        }
    )
    rows = current_rows(table).to_pylist()
    # "a": the newest trusted one (time 3), not the later untrusted; "b": trusted beats a newer null.
    assert [(r["text"], r["label"]) for r in rows] == [("A ", 1), ("b", 1)]


def test_an_api_label_does_not_take_a_tweet_off_the_queue(client, settings):
    answers = predict(client, settings, TWEETS[30:36])
    refresh_queue(settings, TODAY, TODAY, size=6, seed=0)
    queued = {i.item_id for i in waiting_items(settings.data)}
    assert queued
    items = [{"prediction_id": pid, "label": "positive"} for pid in queued]
    assert client.post("/feedback", json={"items": items}).status_code == 200
    assert {i.item_id for i in waiting_items(settings.data)} == queued  # still waiting for people
    person = [Label("positive", prediction_id=pid, source="ui", trusted=True) for pid in sorted(queued)[:2]]
    add_labels(settings.data, settings.results, person)
    assert len(waiting_items(settings.data)) == len(queued) - 2
    assert len(answers) == 6


def test_live_pairs_are_judged_on_trusted_labels_only(client, settings):
    answers = predict(client, settings, TWEETS[40:44])
    add_labels(settings.data, settings.results, [Label("positive", prediction_id=answers[0]["prediction_id"])])
    add_labels(
        settings.data,
        settings.results,
        [Label("negative", prediction_id=answers[1]["prediction_id"], source="ui", trusted=True)],
    )
    assert set(_Pairs(settings, "1", "2").truth) == {answers[1]["prediction_id"]}


def test_a_tweet_sent_300_times_is_one_shadow_pair():
    times = pa.array(range(310), pa.timestamp("ms", tz="UTC"))
    texts = ["same"] * 300 + [f"t{i}" for i in range(10)]
    pairs = pa.table({"time": times, "text": texts, "s_label": ["positive"] * 310, "a_label": ["positive"] * 310})
    assert _first_per_text(pairs).num_rows == 11


def test_the_index_reads_the_same_labels_as_the_parts(client, settings):
    from sentiops.data import feedback_index
    from sentiops.data import feedback_reader as feedback

    answers = predict(client, settings, TWEETS[50:56])
    for a in answers[:3]:
        client.post("/feedback", json={"prediction_id": a["prediction_id"], "label": "positive"})
    expected = sorted(map(str, current_labels(settings.data).to_pylist()))
    assert feedback.compact(settings.data) == len(feedback.parts(settings.data))
    feedback._store.clear()
    feedback._part_tables.clear()  # a new process: only the index and the parts since
    for a in answers[3:]:
        client.post("/feedback", json={"prediction_id": a["prediction_id"], "label": "negative"})
    both = current_labels(settings.data)
    assert {r["prediction_id"] for r in both.to_pylist()} >= {a["prediction_id"] for a in answers}
    index = feedback_index.index_path(feedback.store_dir(settings.data))
    index.write_bytes(b"not parquet")  # a broken index: only a slower read, the same labels
    feedback._store.clear()
    assert sorted(map(str, current_labels(settings.data).to_pylist())) == sorted(map(str, both.to_pylist()))
    assert len(expected) + 3 == both.num_rows


def test_a_trials_hours_run_from_its_first_pair_to_its_last():
    from sentiops.monitoring.live import LiveComparison

    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    comparison = LiveComparison("1", "2", long_ago.isoformat(), [], first_pair=long_ago.isoformat())
    comparison.last_pair = (long_ago + dt.timedelta(minutes=30)).isoformat()
    assert comparison.hours == 0.5  # one burst three days ago is half an hour of evidence, not 72 hours
