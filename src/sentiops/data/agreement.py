"""Labellers check each other: agreement per labeller, who stops counting, and who an operator reinstated.

A share of the queue's items goes to a second labeller (labelling/queue.py), and to a third where
the first two disagree. On every text two or more people labelled, each person's label is set
against the others' when the others agree among themselves (a tie-breaker's label counts against
whichever of the two it contradicts; with only two people, a disagreement counts against both,
since nothing says who was wrong). Cohen's kappa (scikit-learn) on those pairs, with their count n,
is a labeller's agreement; under `label_min_overlaps` pairs it is "not enough overlap yet", never
a number. A labeller whose kappa is under `label_min_kappa` stops counting as trusted (their
labels weigh as an API caller's) until an operator reinstates them:

    data/queue/standing.json   {"reinstated": {name: {"at": ..., "overlaps": n}}}

A reinstatement holds until `label_min_overlaps` more pairs have come in and the kappa is still low.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from filelock import FileLock

from sentiops.files import write_json_atomic

UNNAMED = ""  # trusted labels without a name (imports without an annotator) count as one person


@dataclass(frozen=True)
class Agreement:
    name: str
    n: int  # texts where this person's label met the others' agreed label
    agreed: int
    kappa: float | None  # None: fewer than the minimum overlaps, or one class only

    def describe(self, min_overlaps: int) -> str:
        if self.n < min_overlaps:
            return f"not enough overlap yet ({self.n} of {min_overlaps} shared items)"
        if self.kappa is None:
            return f"agreed on {self.agreed} of {self.n} shared items (one class only: no kappa)"
        return f"kappa {self.kappa:.2f} on {self.n} shared items (agreed on {self.agreed})"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ratings(table: pa.Table) -> dict[str, dict[str, int]]:
    """Text (dedup key) -> {person: label} for texts with a trusted label: each person's newest.
    ``table`` is the store's rows (`feedback_reader.all_labels`), in store order."""
    trusted = table.filter(pc.fill_null(table.column("trusted"), False))
    newest: dict[tuple[str, str], tuple[int, int, int]] = {}  # (text, person) -> (time, row, label)
    keys, names, labels = (trusted.column(c).to_pylist() for c in ("key", "labelled_by", "label"))
    times = trusted.column("received_at").cast(pa.int64()).to_pylist()
    for i, (key, name, label, at) in enumerate(zip(keys, names, labels, times, strict=True)):
        rank = (at if at is not None else -(2**62), i, int(label))
        slot = (key, name or UNNAMED)
        if slot not in newest or rank > newest[slot]:
            newest[slot] = rank
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for (text_key, person), (_, _, label) in newest.items():
        found[text_key][person] = label
    return dict(found)


def agreements(by_text: dict[str, dict[str, int]], min_overlaps: int) -> dict[str, Agreement]:
    """Each labeller's agreement with the others on the texts they share (see the module's doc)."""
    from sklearn.metrics import cohen_kappa_score

    pairs: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for people in by_text.values():
        if len(people) < 2:
            continue
        for name, label in people.items():
            others = {other_label for other, other_label in people.items() if other != name}
            if len(others) == 1:  # the others agree: their label is the reference
                pairs[name].append((label, others.pop()))
    found = {}
    for name, shared in pairs.items():
        mine, theirs = [a for a, _ in shared], [b for _, b in shared]
        agreed = sum(a == b for a, b in shared)
        kappa = None
        if len(shared) >= min_overlaps and len(set(mine) | set(theirs)) > 1:
            kappa = float(cohen_kappa_score(mine, theirs))
            kappa = None if kappa != kappa else kappa  # NaN: chance agreement is total
        found[name] = Agreement(name, len(shared), agreed, kappa)
    return found


def standing_file(data: Path) -> Path:
    return data / "queue" / "standing.json"


def reinstated(data: Path) -> dict[str, dict[str, Any]]:
    try:
        return dict(json.loads(standing_file(data).read_text()).get("reinstated", {}))
    except FileNotFoundError:
        return {}


def flagged(
    found: dict[str, Agreement], back: dict[str, dict[str, Any]], min_kappa: float, min_overlaps: int
) -> set[str]:
    """Labellers whose kappa stays under ``min_kappa`` after enough overlaps, and who were not
    reinstated since (or have as many new overlaps again since, still under it)."""
    low = {a.name for a in found.values() if a.kappa is not None and a.n >= min_overlaps and a.kappa < min_kappa}
    return {name for name in low if name not in back or found[name].n >= back[name]["overlaps"] + min_overlaps}


def reinstate(data: Path, name: str, known: set[str], found: dict[str, Agreement]) -> dict[str, Any]:
    """Count ``name``'s labels as trusted again (an operator's call). ``known``: every labeller
    the deployment has (accounts and names on labels). An unknown name changes nothing."""
    if name not in known:
        raise KeyError(f"no labeller {name!r}: not an account and no label carries that name")
    path = standing_file(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_name(".standing.lock")), timeout=10):
        back = reinstated(data)
        entry = {"at": time.time(), "overlaps": found[name].n if name in found else 0}
        back[name] = entry
        write_json_atomic(path, {"reinstated": back})
    return entry
