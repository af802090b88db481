"""People's three-way labels for tests: the sample's negative/positive tweets and made-up neutral
ones, and a registry whose production is a three-class version widened from the binary one."""

from __future__ import annotations

import shutil
from pathlib import Path

from sentiops.data.feedback import Label, add_labels
from sentiops.training.gate import Decision
from tests.helpers.data import sample_rows

PEOPLE = sample_rows(9000)[6000:6600]  # negative / positive, not in the prepared volume
PLACES = ["the station", "room 4", "the library", "main street", "the office", "gate 12", "the park", "city hall"]
THINGS = ["bus", "meeting", "train", "report", "class", "game", "show", "update"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
# Statements of fact, the shape most of a real stream's neutral tweets have.
NEUTRAL = [f"the {t} is at {h} pm on {d} at {p}" for t in THINGS for d in DAYS for p in PLACES for h in (3, 5)][:500]


def people_labels(settings, neutral: int) -> None:
    """The 600 people's negative/positive labels and the first ``neutral`` neutral ones, trusted."""
    labels = [Label(("negative", "positive")[t == "4"], x, source="ui", trusted=True) for t, x in PEOPLE]
    labels += [Label("neutral", x, source="ui", trusted=True) for x in NEUTRAL[:neutral]]
    assert add_labels(settings.data, settings.results, labels).accepted >= len(labels) - 5  # a few copies


def three_class_home(root: Path, prepared_data: Path, binary_registry: Path) -> Decision:
    """Under ``root``: data and a registry whose version 1 is the binary tiny model and version 2,
    promoted, a three-class challenger widened from it on people's labels (400 of them neutral)."""
    from sentiops.training.retrain import retrain
    from tests.training.test_retraining import RELAXED, TINY, _settings

    shutil.copytree(prepared_data, root / "data")
    shutil.copytree(binary_registry, root / "registry")
    # Relaxed: the tiny model is noisy on the 150-row holdout; the mechanics are under test.
    relaxed = {**RELAXED, "retrain_holdout_guard_margin": 1.0}
    settings = _settings(root, root / "data", root / "registry", **relaxed, neutral_min_labels=100)
    people_labels(settings, 400)
    return retrain(settings, TINY)
