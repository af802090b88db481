"""The feedback store, writing: labels people sent back, validated, as parts that `retrain` reads
(the layout and every reader: data/feedback_reader.py).

    data/feedback/<source>-<UTC stamp>-<token>.parquet   one part per API request or import
    data/feedback/rejects/<same name>.parquet          every refused row with its reason

A part is written under a temporary name and renamed, so an import that fails half-way leaves
the store as it was. Each label carries its provenance: source, received time, the prediction it
labels and the model version that made it (when known), and how it was picked (`random`: an
unbiased sample of traffic, which grades realized accuracy; anything else was chosen, e.g. for
being uncertain; `api`: sent by an API caller). Labels are never changed: every reader takes
"the current label" of a text from `current_rows`, the one rule: a trusted label beats an
untrusted one whatever their times, and among equals the newest wins.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from sentiops.data.feedback_reader import SCHEMA, people_labels, store_dir, stored_labels
from sentiops.data.labels import LABEL2ID, LABELS
from sentiops.data.predictions import batch_date_of, find
from sentiops.data.readers import reading
from sentiops.data.store import read_split
from sentiops.files import replaced_atomically
from sentiops.text import dedup_key, text_problem
from sentiops.volume import DateFiles

REJECT_SCHEMA = pa.schema([("row", pa.string()), ("reason", pa.string()), ("raw", pa.string())])
MAX_TEXT_CHARS = 1000
# Why a label of a holdout or validation text is refused; an API caller is not told (it would
# reveal which texts the gate's evidence holds): only the rejects file on the volume says so.
PROTECTED = "the text is in the holdout or validation split: the gate's evidence must stay unseen"


@dataclass
class Label:
    label: str  # a class name: negative / positive
    text: str | None = None
    prediction_id: str | None = None
    source: str = "api"
    picked: str = "random"
    row: str = ""  # where it came from (line, item index), for the rejects
    problem: str | None = None  # found while reading it (a malformed row, an unknown label)
    trusted: bool = False
    labelled_by: str | None = None


@dataclass
class Outcome:
    accepted: int = 0
    relabels: int = 0
    duplicates: int = 0  # the same text with the same label again: kept once
    conflicts: int = 0  # one text with both labels in what was sent: held out
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (row, reason)
    part: Path | None = None
    unknown_ids: list[str] = field(default_factory=list)  # ids neither the log nor the scores hold


def add_labels(
    data: Path,
    results: Path,
    labels: list[Label],
    max_text_chars: int = MAX_TEXT_CHARS,
    all_ids_known: bool = False,
    found: dict[str, dict] | None = None,
) -> Outcome:
    """Validate ``labels`` as training data is validated and write the good ones as one new part.

    ``all_ids_known``: store nothing at all when a prediction id is unknown (the API answers 404
    then); otherwise such labels are rejected one by one, as any other bad row. ``found``: the
    predictions of some ids (text, model version) the caller already holds (the labelling
    queue's items), so that they are not looked up in the log and the day's scores again."""
    outcome = Outcome()
    known = dict(found or {})
    ids = [x.prediction_id for x in labels if x.prediction_id and x.prediction_id not in known]
    known.update(find(results, ids))
    known.update(batch_rows(results, [i for i in ids if i not in known]))
    if all_ids_known and (unknown := [i for i in ids if i not in known]):
        return Outcome(unknown_ids=unknown)
    protected = protected_keys(data)
    stored = stored_labels(data)
    people = people_labels(data, distrusted_too=True)
    good: list[tuple[Label, str, str | None]] = []  # label, text, model version
    for item in labels:
        text, version = item.text, None
        if item.prediction_id:
            prediction = known.get(item.prediction_id)
            if prediction is None:
                outcome.unknown_ids.append(item.prediction_id)
                outcome.rejected.append((item.row, f"unknown prediction id {item.prediction_id!r}"))
                continue
            version = prediction.get("model_version")
            logged = prediction.get("text")
            if text is not None and logged is not None and dedup_key(text) != dedup_key(logged):
                # The logged text is the text: a label must not attach to words the model never saw
                # (a spreadsheet's `#NAME?` in place of the tweet, an edited cell).
                outcome.rejected.append((item.row, "the text differs from the prediction's logged text"))
                continue
            text = logged if logged is not None else text
            if text is None:
                outcome.rejected.append((item.row, "the prediction was logged without its text (hash only)"))
                continue
        reason = _problem(item, text, max_text_chars, protected)
        if reason:
            outcome.rejected.append((item.row, reason))
            continue
        assert text is not None
        good.append((item, text, version))

    by_key: dict[str, list[tuple[Label, str, str | None]]] = {}
    for entry in good:
        by_key.setdefault(dedup_key(entry[1]), []).append(entry)
    kept: list[tuple[Label, str, str | None]] = []
    for key, entries in by_key.items():
        names = {e[0].label for e in entries}
        if len(names) > 1:
            outcome.conflicts += len(entries)
            outcome.rejected += [(e[0].row, "conflicting labels for one text in this input: held out") for e in entries]
            continue
        entry = entries[-1]
        held = stored.current.get(key)
        outcome.duplicates += len(entries) - 1
        label = LABEL2ID[entry[0].label]
        if entry[0].trusted:
            # A person's label is their own judgement (labellers check each other on it): kept once
            # per person, even where someone else already gave the same.
            same = people.get(key, {}).get(entry[0].labelled_by or "") == label
        else:
            same = held is not None and held.label == label  # the store already says this
        if same:
            outcome.duplicates += 1
            continue
        # A different label is stored as given: `current_rows` decides whether it counts (an
        # untrusted label never displaces a trusted one).
        outcome.relabels += int(held is not None)
        kept.append(entry)
    outcome.accepted = len(kept)
    source = labels[0].source if labels else "api"
    name = f"{_safe(source)}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.parquet"
    if kept:
        outcome.part = store_dir(data) / name
        _write_part(outcome.part, kept)
    if outcome.rejected:
        _write_rejects(store_dir(data) / "rejects" / name, outcome.rejected, labels)
    return outcome


def _problem(item: Label, text: str | None, max_chars: int, protected: set[str]) -> str | None:
    if item.problem:
        return item.problem
    if item.label not in LABELS:
        return f"unknown label {item.label!r}: expected one of {', '.join(LABELS)}"
    if not isinstance(text, str):
        return "no text and no prediction id"
    problem = text_problem(text)
    if problem:
        return problem
    if len(text) > max_chars:
        return f"text has {len(text)} characters; the limit is {max_chars}"
    if dedup_key(text) in protected:
        return PROTECTED
    return None


_protected_cache: dict[tuple[str, float], set[str]] = {}


def protected_keys(data: Path) -> set[str]:
    """Cleaned texts of the holdout and validation splits (cached per data manifest)."""
    manifest = data / "manifest.json"
    key = (str(data), manifest.stat().st_mtime if manifest.is_file() else 0.0)
    if key not in _protected_cache:
        found: set[str] = set()
        for split in ("holdout", "validation"):
            try:
                found.update(dedup_key(t) for t in read_split(data, split).column("text").to_pylist())
            except FileNotFoundError:
                continue
        _protected_cache.clear()
        _protected_cache[key] = found
    return _protected_cache[key]


def batch_rows(results: Path, prediction_ids: list[str]) -> dict[str, dict]:
    """The scored batch rows with these ids (text, model version). The day's scores are scanned
    batch by batch with the ids as a filter, so memory follows a record batch, not the day (a
    whole 1M-row day read for one label took 320 MB a request)."""
    by_date: dict[str, set[str]] = {}
    for pid in prediction_ids:
        if (date := batch_date_of(pid)) is not None:
            by_date.setdefault(date, set()).add(pid)
    found: dict[str, dict] = {}
    for date, ids in by_date.items():
        folder = DateFiles(results, date).scores
        if not folder.is_dir():
            continue
        wanted = pc.field("prediction_id").isin(pa.array(sorted(ids), pa.string()))
        with reading(folder):
            scanner = ds.dataset(folder, format="parquet").scanner(
                columns=["prediction_id", "text", "model_version"],
                filter=wanted,
                batch_size=8192,
                batch_readahead=1,  # one row group in memory at a time, not the scanner's default 16
                fragment_readahead=1,
            )
            for batch in scanner.to_batches():
                found.update({row["prediction_id"]: row for row in batch.to_pylist()})
    return found


def _write_part(path: Path, kept: list[tuple[Label, str, str | None]]) -> None:
    now = dt.datetime.now(dt.UTC)
    table = pa.table(
        {
            "id": [item.prediction_id or f"{path.stem}:{item.row}" for item, _, _ in kept],
            "text": [text for _, text, _ in kept],
            "label": [LABEL2ID[item.label] for item, _, _ in kept],
            "source": [item.source for item, _, _ in kept],
            "received_at": [now] * len(kept),
            "prediction_id": [item.prediction_id for item, _, _ in kept],
            "model_version": [version for _, _, version in kept],
            "picked": [item.picked for item, _, _ in kept],
            "trusted": [item.trusted for item, _, _ in kept],
            "labelled_by": [item.labelled_by for item, _, _ in kept],
        },
        schema=SCHEMA,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as tmp:
        pq.write_table(table, tmp)


def _write_rejects(path: Path, rejected: list[tuple[str, str]], labels: list[Label]) -> None:
    raw = {item.row: repr(item)[:2000] for item in labels}
    table = pa.table(
        {
            "row": [r for r, _ in rejected],
            "reason": [why for _, why in rejected],
            "raw": [raw.get(r, "") for r, _ in rejected],
        },
        schema=REJECT_SCHEMA,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as tmp:
        pq.write_table(table, tmp)


def _safe(source: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in source)[:40] or "feedback"


def counts(outcome: Outcome) -> dict[str, int]:
    reasons = Counter(why.split(":")[0] for _, why in outcome.rejected)
    return {
        "accepted": outcome.accepted,
        "relabels": outcome.relabels,
        "duplicates": outcome.duplicates,
        "conflicts": outcome.conflicts,
        "rejected": len(outcome.rejected),
        **{f"rejected: {k}": v for k, v in reasons.items()},
    }
