"""The trusted evaluation set: people's labels held back from training, the gate's main evidence.

Trusted labels come from the Label page and from imports marked --trusted (never from what any
API caller can send). A fixed share of them, chosen by a hash of the cleaned text, is held back:
a text is on the same side for good (a relabel too), so the set only grows as labels arrive, and
no model trained under this rule ever saw a text of it, whatever its source (an API label of the
same text included). While people's labels are few, the share is raised (`share_for`) so that
enough are held back to decide on; a larger share holds back a superset, so a version's recorded
share says which texts it never trained on.
"""

from __future__ import annotations

import hashlib
import math

import pyarrow as pa
import pyarrow.compute as pc

from sentiops.text import dedup_key


def position(text: str) -> float:
    """Where ``text`` falls in [0, 1): a text is held back by every share above its position."""
    digest = hashlib.sha256(b"sentiops trusted evaluation\0" + dedup_key(text).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def held_back(text: str, share: float) -> bool:
    """Whether ``text`` belongs to the held-back share (a smaller share is a subset of a larger one)."""
    return position(text) < share


def share_for(texts: list[str], share: float, floor: int) -> float:
    """The share to hold back of these trusted texts: ``share``, raised just enough that at least
    ``floor`` of them are held back, but never so far that more than half are (the rest must train)."""
    positions = sorted({position(t) for t in texts})
    wanted = min(floor, len(positions) // 2)
    if wanted == 0 or sum(p < share for p in positions) >= wanted:
        return share
    return max(share, math.nextafter(positions[wanted - 1], 1.0))


def held_back_mask(texts: list[str], share: float) -> pa.Array:
    return pa.array([held_back(t, share) for t in texts], pa.bool_())


def trusted_eval(current: pa.Table, share: float, exclude: set[str] | None = None) -> pa.Table:
    """The held-back trusted labels (id, text, label) among ``current`` (the store's current labels,
    `feedback.current_labels`): texts whose current label is trusted, without the texts in
    ``exclude`` (dedup keys a model being compared was trained on)."""
    labels = current.filter(pc.fill_null(current.column("trusted"), False))
    if labels.num_rows == 0:
        return labels.select(["id", "text", "label"])
    texts = labels.column("text").to_pylist()
    keep = [held_back(t, share) and dedup_key(t) not in (exclude or set()) for t in texts]
    return labels.filter(pa.array(keep, pa.bool_())).select(["id", "text", "label"])
