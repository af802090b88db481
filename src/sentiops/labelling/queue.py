"""The labelling queue on the volume: the tweets picked for people to label, and who is labelling what.

    data/queue/items-<UTC stamp>-<token>.parquet   the items one refresh added (never changed)
    data/queue/state.json                          leases, skips, each labeller's recent items

An item is done once the feedback store holds a trusted label for its prediction id (or for its
text): from the Label page or an import marked --trusted; what an API caller sends never takes an
item off the queue. A share of the items (`label_overlap_share`, by a hash of the item id) needs
two people who agree, or a third where two disagree; nobody is offered an item twice. The
state file is read and replaced under a file lock, so two labellers (two tabs, two replicas on one
volume) never lease the same item; a lease expires, so an abandoned tab frees its item.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from sentiops.data.feedback_reader import people_labels, stored_labels
from sentiops.data.readers import reading
from sentiops.files import replaced_atomically, write_json_atomic
from sentiops.text import dedup_key

ITEM_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),  # the prediction id: a label for it joins the prediction
        ("text", pa.string()),
        ("picked", pa.string()),  # random / uncertain / drift
        ("source", pa.string()),  # api / batch
        ("date", pa.string()),
        ("model_version", pa.string()),
        ("label", pa.string()),  # the model's answer: shown only when the labeller asks
        ("confidence", pa.float32()),  # calibrated
        ("queued_at", pa.timestamp("ms", tz="UTC")),
    ]
)
HISTORY = 20  # items per labeller that undo can walk back
SKIPS = 500  # skipped items remembered per labeller (the oldest are offered again)


class QueueError(Exception):
    """A request on the queue that cannot be done; `status` is the HTTP status that says why."""

    status = 409


class UnknownItem(QueueError):
    status = 404


class LeaseLost(QueueError):
    status = 409


@dataclass(frozen=True)
class Item:
    item_id: str
    text: str
    picked: str
    source: str
    date: str
    model_version: str | None
    label: str | None
    confidence: float | None

    def public(self) -> dict[str, Any]:
        """What the Label page shows: never the model's answer (it would steer the labeller)."""
        return {"id": self.item_id, "text": self.text, "picked": self.picked, "date": self.date}


def queue_dir(data: Path) -> Path:
    return data / "queue"


def item_files(data: Path) -> list[Path]:
    return sorted(p for p in queue_dir(data).glob("items-*.parquet") if not p.name.startswith("."))


_cache: dict[tuple[str, float], list[Item]] = {}


def all_items(data: Path) -> list[Item]:
    """Every item ever queued, oldest refresh first (files never change: each is read once)."""
    found: list[Item] = []
    for path in item_files(data):
        key = (str(path), path.stat().st_mtime)
        if key not in _cache:
            with reading(path):
                rows = pq.read_table(path).to_pylist()
            _cache[key] = [Item(**{k: r[k] for k in Item.__dataclass_fields__}) for r in rows]
        found += _cache[key]
    return found


def add_items(data: Path, rows: list[dict[str, Any]]) -> Path | None:
    """Write one refresh's items as a new file (under a temporary name, then renamed)."""
    if not rows:
        return None
    now = dt.datetime.now(dt.UTC)
    table = pa.Table.from_pylist([{**r, "queued_at": now} for r in rows], schema=ITEM_SCHEMA)
    path = queue_dir(data) / f"items-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as tmp:
        pq.write_table(table, tmp)
    return path


def needs_second(item_id: str, share: float) -> bool:
    """Whether this item goes to a second labeller (a fixed share, by a hash of its id)."""
    digest = hashlib.sha256(b"sentiops second labeller\0" + item_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


@dataclass(frozen=True)
class Labelled:
    """What the store says about the queue's items: trusted labels by prediction id and text, and
    who labelled each text (distrusted labellers left out)."""

    ids: set[str]
    keys: set[str]
    people: dict[str, dict[str, int]]
    everyone: dict[str, dict[str, int]]  # distrusted labellers too
    overlap_share: float

    @classmethod
    def read(cls, data: Path, overlap_share: float) -> Labelled:
        stored = stored_labels(data)
        people, everyone = people_labels(data), people_labels(data, distrusted_too=True)
        return cls(stored.trusted_ids, stored.trusted_keys, people, everyone, overlap_share)

    def who(self, item: Item) -> dict[str, int]:
        return self.people.get(dedup_key(item.text), {})

    def done(self, item: Item) -> bool:
        if not needs_second(item.item_id, self.overlap_share):
            return item.item_id in self.ids or dedup_key(item.text) in self.keys
        answers = list(self.who(item).values())  # two who agree, or three
        return len(answers) >= 3 or (len(answers) == 2 and answers[0] == answers[1])

    def open_to(self, item: Item, holder: str) -> bool:
        """Not done, and not labelled by this person already, even one whose labels no longer count
        (nobody labels an item twice)."""
        return not self.done(item) and holder not in self.everyone.get(dedup_key(item.text), {})


def waiting_items(data: Path, overlap_share: float = 0.0) -> list[Item]:
    """The queued items that still need a label (leased ones included), in queue order."""
    labelled = Labelled.read(data, overlap_share)
    return [i for i in all_items(data) if not labelled.done(i)]


@dataclass
class Progress:
    total: int
    done: int
    left: int  # not labelled yet (leased ones included)
    yours: int  # labelled by this labeller (this session)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class LabelQueue:
    """Leases over the queue's items: ``holder`` is one labeller's session."""

    def __init__(self, data: Path, lease_seconds: float, overlap_share: float = 0.0) -> None:
        self.data = data
        self.lease_seconds = lease_seconds
        self.overlap_share = overlap_share
        self.state_file = queue_dir(data) / "state.json"

    # -- state, under the lock ------------------------------------------------------------------
    def _locked(self) -> FileLock:
        queue_dir(self.data).mkdir(parents=True, exist_ok=True)
        return FileLock(str(queue_dir(self.data) / ".state.lock"), timeout=10)

    def _read(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            state = {}
        now = time.time()
        leases = {k: v for k, v in state.get("leases", {}).items() if v["until"] > now}
        return {
            "leases": leases,
            "skipped": state.get("skipped", {}),
            "history": state.get("history", {}),
            "labelled": state.get("labelled", {}),
        }

    def _write(self, state: dict[str, Any]) -> None:
        """Write the state, bounded: expired leases are gone (`_read`), each labeller keeps their
        newest SKIPS skips and HISTORY items, and labellers with nothing left are dropped."""
        for key in ("skipped", "history"):
            keep = SKIPS if key == "skipped" else HISTORY
            state[key] = {holder: items[-keep:] for holder, items in state[key].items() if items}
        write_json_atomic(self.state_file, state)

    def _open(self) -> tuple[list[Item], Labelled]:
        return all_items(self.data), Labelled.read(self.data, self.overlap_share)

    def _find(self, items: list[Item], item_id: str) -> Item:
        for item in items:
            if item.item_id == item_id:
                return item
        raise UnknownItem(f"no queued item {item_id!r}")

    def _lease(self, state: dict[str, Any], holder: str, item: Item) -> float:
        until = time.time() + self.lease_seconds
        state["leases"][item.item_id] = {"holder": holder, "until": until}
        return until

    # -- what the Label page calls --------------------------------------------------------------
    def next(self, holder: str) -> tuple[Item | None, float | None]:
        """The item this labeller holds, else the first free one (leased to them), else None."""
        with self._locked():
            state = self._read()
            items, labelled = self._open()
            by_id = {i.item_id: i for i in items}
            for item_id, lease in state["leases"].items():
                if lease["holder"] == holder and item_id in by_id and labelled.open_to(by_id[item_id], holder):
                    until = self._lease(state, holder, by_id[item_id])
                    self._write(state)
                    return by_id[item_id], until
            skipped = set(state["skipped"].get(holder, []))
            for item in items:
                if item.item_id in state["leases"] or item.item_id in skipped or not labelled.open_to(item, holder):
                    continue
                until = self._lease(state, holder, item)
                self._write(state)
                return item, until
            return None, None

    def held(self, holder: str, item_id: str) -> Item:
        """The item, if this labeller's lease on it is live; else a clear error."""
        with self._locked():
            state = self._read()
            item = self._find(all_items(self.data), item_id)
            lease = state["leases"].get(item_id)
            if lease is None or lease["holder"] != holder:
                raise LeaseLost(
                    f"you hold no lease on item {item_id!r} (it expired after {self.lease_seconds:.0f} s "
                    "or another labeller has it): fetch the next item"
                )
            return item

    def finish(self, holder: str, item_id: str, skipped: bool = False) -> None:
        """Release the lease after a label (or a skip), and remember the item for undo."""
        with self._locked():
            state = self._read()
            if state["leases"].get(item_id, {}).get("holder") == holder:
                del state["leases"][item_id]
            if skipped:
                state["skipped"].setdefault(holder, []).append(item_id)
            else:
                state["labelled"][holder] = state["labelled"].get(holder, 0) + 1
            history = state["history"].setdefault(holder, [])
            history.append(item_id)
            del history[:-HISTORY]
            self._write(state)

    def undo(self, holder: str) -> tuple[Item, float]:
        """Lease back this labeller's previous item (a label given again replaces the first)."""
        with self._locked():
            state = self._read()
            history = state["history"].get(holder, [])
            if not history:
                raise UnknownItem("nothing to undo")
            item_id = history[-1]
            lease = state["leases"].get(item_id)
            if lease is not None and lease["holder"] != holder:
                raise LeaseLost(f"item {item_id!r} is with another labeller now")
            item = self._find(all_items(self.data), item_id)
            history.pop()
            if item_id in state["skipped"].get(holder, []):
                state["skipped"][holder].remove(item_id)
            # Whatever this labeller held before goes back to the queue.
            for other, held in list(state["leases"].items()):
                if held["holder"] == holder:
                    del state["leases"][other]
            until = self._lease(state, holder, item)
            self._write(state)
            return item, until

    def progress(self, holder: str | None = None) -> Progress:
        total, left = len(all_items(self.data)), len(waiting_items(self.data, self.overlap_share))
        yours = self._read()["labelled"].get(holder, 0) if holder else 0
        return Progress(total, total - left, left, yours)
