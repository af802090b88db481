"""Labellers check each other: a share of the queue goes to a second labeller (a third where two
disagree), kappa per labeller flags one who flips answers, a disagreement counts for neither side,
and only an operator counts a flagged labeller again."""

from __future__ import annotations

import contextlib
import datetime as dt

import numpy as np
from typer.testing import CliRunner

from sentiops.cli import app
from sentiops.data.agreement import agreements, ratings, standing_file
from sentiops.data.feedback import Label, add_labels
from sentiops.data.feedback_reader import all_labels, distrusted, trusted_labels
from sentiops.labelling.picking import refresh_queue
from sentiops.labelling.queue import LabelQueue, needs_second, waiting_items
from sentiops.labelling.standing import standings
from sentiops.text import dedup_key
from tests.helpers.feedback import predict
from tests.labelling.conftest import TWEETS

TODAY = dt.datetime.now(dt.UTC).date()
TEXTS = [f"shared tweet {i}: the {('game', 'film', 'bus', 'rain')[i % 4]} today was what it was" for i in range(120)]
TRUTH = [i % 2 for i in range(120)]
NAMES = ("negative", "positive")


def _label(settings, who, answers):
    labels = [Label(NAMES[y], t, source="ui", trusted=True, labelled_by=who) for t, y in answers]
    assert add_labels(settings.data, settings.results, labels).accepted == len(labels)


def _honest_flipper_and_a_third(settings):
    """ana answers truly; bo flips 30% of the same items; cy, honest, takes the items they dispute."""
    flips = np.random.default_rng(7).random(len(TEXTS)) < 0.3
    bo = [1 - y if flip else y for y, flip in zip(TRUTH, flips, strict=True)]
    _label(settings, "ana", zip(TEXTS, TRUTH, strict=True))
    _label(settings, "bo", zip(TEXTS, bo, strict=True))
    disputed = [(t, y) for t, y, flip in zip(TEXTS, TRUTH, flips, strict=True) if flip]
    return disputed


def test_a_pair_that_disagrees_counts_for_neither_side_until_a_third_decides(settings, monkeypatch):
    disputed = _honest_flipper_and_a_third(settings)
    keys = {dedup_key(t) for t, _ in disputed}
    with judged_from(monkeypatch, 1000):  # nobody judged yet: both count
        trusted = set(trusted_labels(settings.data).column("key").to_pylist())
        assert not keys & trusted  # disputed texts are nobody's evidence yet
        assert len(trusted & {dedup_key(t) for t in TEXTS}) == len(TEXTS) - len(disputed)
    # With only two people nothing says who is wrong: both fall under the threshold.
    assert distrusted(settings.data) == {"ana", "bo"}
    assert not trusted_labels(settings.data).num_rows
    _label(settings, "cy", disputed)
    # The third's label meets the others' agreed one nowhere (they disagree), so cy has no kappa;
    # against ana and cy together bo falls short, ana does not.
    found = {s.name: s for s in standings(settings.data, settings.label_min_overlaps)}
    assert found["bo"].kappa is not None and found["bo"].kappa < settings.label_min_kappa
    assert found["ana"].kappa is not None and found["ana"].kappa > 0.9
    assert not found["bo"].counts and found["ana"].counts and found["cy"].counts
    assert found["cy"].agreement.startswith("not enough overlap yet") and found["cy"].kappa is None
    assert distrusted(settings.data) == {"bo"}
    # The majority (ana and cy) decides the disputed texts, and every label of bo counts as untrusted.
    current = {r["key"]: r for r in trusted_labels(settings.data).to_pylist()}
    assert all(current[dedup_key(t)]["label"] == y for t, y in disputed)
    assert all(r["labelled_by"] != "bo" for r in current.values())


def test_the_overview_and_the_label_page_show_who_agrees(client, settings):
    _honest_flipper_and_a_third(settings)
    overview = client.get("/ui").text  # open on 127.0.0.1 with no credentials configured
    row = overview[overview.index('id="labellers"') :]
    # Two people who disagree on 30%: both under the threshold (no third has broken a tie yet).
    assert "bo</td><td>kappa 0." in row and "ana</td><td>kappa 0." in row
    assert row.count("no: kappa under 0.6") == 2 and "sentiops labellers reinstate bo" in row
    page = client.get("/ui/label").text  # the local labeller has labelled nothing
    assert "Your agreement with the other labellers: not enough overlap yet (0 of 30 shared items)" in page


def test_kappa_needs_enough_overlap(settings):
    _label(settings, "ana", zip(TEXTS[:10], TRUTH[:10], strict=True))
    _label(settings, "bo", zip(TEXTS[:10], [1 - y for y in TRUTH[:10]], strict=True))
    found = agreements(ratings(all_labels(settings.data)), settings.label_min_overlaps)
    assert found["bo"].n == 10 and found["bo"].kappa is None
    assert found["bo"].describe(settings.label_min_overlaps) == "not enough overlap yet (10 of 30 shared items)"
    assert distrusted(settings.data) == frozenset()  # nobody is judged on ten items


def test_only_an_operator_counts_a_flagged_labeller_again(settings, cli_env):
    _honest_flipper_and_a_third(settings)
    runner = CliRunner()
    refused = runner.invoke(app, ["labellers", "reinstate", "nobody"])
    assert refused.exit_code == 2 and "no labeller 'nobody'" in refused.output
    assert not standing_file(settings.data).exists()  # nothing changed
    assert "bo" in distrusted(settings.data)
    done = runner.invoke(app, ["labellers", "reinstate", "bo"])
    assert done.exit_code == 0, done.output
    assert "bo" not in distrusted(settings.data)
    listed = runner.invoke(app, ["labellers", "agreement"]).output
    assert "bo: kappa" in listed and "(reinstated)" in listed


def test_a_share_of_items_goes_to_a_second_and_a_third_labeller(client, settings):
    predict(client, settings, TWEETS[100:112])
    refresh_queue(settings, TODAY, TODAY, size=12, seed=0)
    queue = LabelQueue(settings.data, lease_seconds=60, overlap_share=1.0)  # every item needs two
    item, _ = queue.next("ana")
    assert item is not None

    def give(who, label):
        held = queue.held(who, item.item_id)
        entry = Label(label, held.text, held.item_id, "ui", held.picked, trusted=True, labelled_by=who)
        add_labels(settings.data, settings.results, [entry], found={held.item_id: {"text": held.text}})
        queue.finish(who, item.item_id)

    give("ana", "positive")
    assert item in waiting_items(settings.data, 1.0)  # one label is not enough
    assert queue.next("ana")[0] != item  # never the same person twice
    assert queue.next("bo")[0] == item
    give("bo", "negative")  # they disagree: a third person gets it
    assert item in waiting_items(settings.data, 1.0)
    assert queue.next("bo")[0] != item
    assert queue.next("cy")[0] == item
    give("cy", "positive")
    assert item not in waiting_items(settings.data, 1.0)
    # The default share sends about a tenth of the items to a second labeller.
    share = np.mean([needs_second(f"2026120100-{i:020x}", 0.1) for i in range(5000)])
    assert 0.08 < share < 0.12


def test_a_labeller_whose_labels_stopped_counting_is_not_offered_their_items_again(client, settings):
    _honest_flipper_and_a_third(settings)  # without a third, ana and bo both stop counting
    assert distrusted(settings.data) == {"ana", "bo"}
    predict(client, settings, TWEETS[120:123])
    refresh_queue(settings, TODAY, TODAY, size=3, seed=0)
    queue = LabelQueue(settings.data, lease_seconds=60)
    item, _ = queue.next("bo")
    held = queue.held("bo", item.item_id)
    entry = Label("positive", held.text, held.item_id, "ui", held.picked, trusted=True, labelled_by="bo")
    add_labels(settings.data, settings.results, [entry], found={held.item_id: {"text": held.text}})
    queue.finish("bo", item.item_id)
    assert item in waiting_items(settings.data)  # bo's label does not count: it still waits
    assert queue.next("bo")[0] != item  # but never for bo (the benchmark looped on it 1,088 times)
    assert queue.next("cy")[0] == item


@contextlib.contextmanager
def judged_from(monkeypatch, overlaps):
    from sentiops.config import get_settings
    from sentiops.data import feedback_reader

    monkeypatch.setenv("SENTIOPS_LABEL_MIN_OVERLAPS", str(overlaps))
    get_settings.cache_clear()
    feedback_reader._current.clear()  # settings are read once per store state
    yield
    monkeypatch.delenv("SENTIOPS_LABEL_MIN_OVERLAPS")
    get_settings.cache_clear()
    feedback_reader._current.clear()
