"""The trusted evaluation set: people's labels held back from training, the gate's main evidence.

Trusted labels come from the Label page and from imports marked --trusted (never from what any
API caller can send). A fixed share of them, chosen by a hash of the cleaned text, is held back:
a text is on the same side for good (a relabel too), so the set only grows as labels arrive, and
no model trained under this rule ever saw a text of it, whatever its source (an API label of the
same text included).
"""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

from sentiops.text import dedup_key


def held_back(text: str, share: float) -> bool:
    """Whether ``text`` belongs to the held-back share (a smaller share is a subset of a larger one)."""
    digest = hashlib.sha256(b"sentiops trusted evaluation\0" + dedup_key(text).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


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
