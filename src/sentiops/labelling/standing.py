"""Each labeller's standing: their agreement with the others and whether their labels count
(data/agreement.py works it out; the Overview, the Label page and `labellers agreement` show it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sentiops.data.agreement import UNNAMED, Agreement, reinstated
from sentiops.data.feedback_reader import distrusted, labeller_agreements, people_labels


@dataclass(frozen=True)
class Standing:
    name: str
    agreement: str  # "kappa 0.84 on 40 shared items ..." or "not enough overlap yet ..."
    kappa: float | None
    n: int
    counts: bool  # their labels count as trusted
    reinstated: bool


def standings(data: Path, min_overlaps: int, names: set[str] | None = None) -> list[Standing]:
    """Every labeller with a trusted label (and every name in ``names``, e.g. the accounts): their
    agreement, and whether their labels count (the Overview, the Label page, `labellers list`)."""
    by_text = people_labels(data, distrusted_too=True)
    found = labeller_agreements(data)
    out = distrusted(data)
    back = reinstated(data)
    people = {p for who in by_text.values() for p in who if p != UNNAMED} | (names or set())
    rows = []
    for name in sorted(people):
        mine = found.get(name, Agreement(name, 0, 0, None))
        rows.append(Standing(name, mine.describe(min_overlaps), mine.kappa, mine.n, name not in out, name in back))
    return rows
