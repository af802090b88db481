"""`sentiops data prepare`: read, clean, de-duplicate and split tweets into the volume's pools.

Layout written under the output folder:

    manifest.json            counts per split and class, input sha256, seed, drop counts
    train.parquet            the training rows
    validation.parquet       fixed validation set (model selection, reference profile)
    holdout.parquet          fixed holdout set (promotion gate; never trained on)
    incoming/day-0001.parquet ...  unlabelled daily batches for the batch job
    incoming/labels/day-0001.parquet  their labels, for drift performance checks
    feedback/part-0001.parquet ... labelled pool that retraining draws on
    rejects.parquet          rows that could not be used, with the reason and the raw value
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sentiops.data.labels import LABEL2ID, LABELS, Scheme, detect_scheme, map_label
from sentiops.data.readers import Record, Reject, expand_inputs, iter_chunks
from sentiops.data.store import REJECT_SCHEMA
from sentiops.files import sha256_file
from sentiops.text import dedup_key


@dataclass(frozen=True)
class SplitPlan:
    seed: int = 42
    train_share: float = 0.6
    validation_rows: int = 2000
    holdout_rows: int = 2000
    day_rows: int = 1000
    feedback_part_rows: int = 5000


def read_labelled(
    inputs: list[Path], scheme: Scheme | None = None, on_rows: Callable[[int], object] | None = None
) -> tuple[list[tuple[str, str, int]], list[Reject], Counter[str]]:
    """Rows (id, text, label id) with binary labels; rejects; and counts of what was dropped.

    Each file's label scheme is detected from its labels unless ``scheme`` names it. Tweets
    that are the same after cleaning (see `dedup_key`) are kept once, so no tweet can land in
    two splits; a copy with the other label is dropped too (the first one seen wins).
    """
    rows: list[tuple[str, str, int]] = []
    rejects: list[Reject] = []
    dropped: Counter[str] = Counter()
    seen: dict[str, int] = {}
    for path in inputs:
        records: list[Record] = []
        for chunk, bad in iter_chunks(path):
            records.extend(chunk)
            rejects.extend(bad)
            if on_rows is not None:
                on_rows(len(chunk) + len(bad))
        file_scheme = scheme or detect_scheme(r.label for r in records)
        for rec in records:
            label = map_label(rec.label, file_scheme)
            if label is None:
                rejects.append(Reject(rec.row_id, f"unknown label {rec.label!r} ({file_scheme} scheme)", rec.text))
                continue
            key = dedup_key(rec.text)
            if not key:
                dropped["empty_after_cleaning"] += 1
            elif key in seen:
                dropped["duplicate" if seen[key] == LABEL2ID[label] else "duplicate_other_label"] += 1
            else:
                seen[key] = LABEL2ID[label]
                rows.append((rec.row_id, rec.text, LABEL2ID[label]))
    dropped["rejected"] = len(rejects)
    return rows, rejects, dropped


def _table(rows: list[tuple[str, str, int]], labelled: bool = True) -> pa.Table:
    columns: dict[str, list[str] | list[int]] = {"id": [r[0] for r in rows], "text": [r[1] for r in rows]}
    if labelled:
        columns["label"] = [r[2] for r in rows]
    schema = [("id", pa.string()), ("text", pa.string())]
    if labelled:
        schema.append(("label", pa.int8()))
    return pa.table(columns, schema=pa.schema(schema))


def _class_counts(rows: list[tuple[str, str, int]]) -> dict[str, int]:
    counts = Counter(r[2] for r in rows)
    return {name: counts.get(i, 0) for i, name in enumerate(LABELS)}


def _cut(rows: list, size: int) -> list[list]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def prepare(
    inputs: list[Path],
    output: Path,
    plan: SplitPlan = SplitPlan(),
    scheme: Scheme | None = None,
    on_rows: Callable[[int], object] | None = None,
) -> dict[str, Any]:
    """Run the whole prepare step; the output folder is replaced only once it is complete."""
    files = [f for spec in inputs for f in expand_inputs(spec)]
    rows, rejects, dropped = read_labelled(files, scheme, on_rows)
    if len(rows) < 10:
        raise ValueError(f"only {len(rows)} usable labelled rows in {', '.join(map(str, files))}")
    order = np.random.default_rng(plan.seed).permutation(len(rows))
    shuffled = [rows[i] for i in order]

    n_pool = int(round(len(shuffled) * plan.train_share))
    pool, rest = shuffled[:n_pool], shuffled[n_pool:]
    n_val = min(plan.validation_rows, max(1, len(pool) // 10))
    n_hold = min(plan.holdout_rows, max(1, len(pool) // 10))
    validation, holdout, train = pool[:n_val], pool[n_val : n_val + n_hold], pool[n_val + n_hold :]
    incoming, feedback = rest[: len(rest) // 2], rest[len(rest) // 2 :]
    days = _cut(incoming, plan.day_rows)
    parts = _cut(feedback, plan.feedback_part_rows)

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        for name, split in (("train", train), ("validation", validation), ("holdout", holdout)):
            pq.write_table(_table(split), staging / f"{name}.parquet")
        (staging / "incoming" / "labels").mkdir(parents=True)
        for i, day in enumerate(days, start=1):
            pq.write_table(_table(day, labelled=False), staging / "incoming" / f"day-{i:04d}.parquet")
            pq.write_table(_table(day), staging / "incoming" / "labels" / f"day-{i:04d}.parquet")
        (staging / "feedback").mkdir()
        for i, part in enumerate(parts, start=1):
            pq.write_table(_table(part), staging / "feedback" / f"part-{i:04d}.parquet")
        reject_table = pa.table(
            {
                "row_id": [r.row_id for r in rejects],
                "reason": [r.reason for r in rejects],
                "raw": [r.raw for r in rejects],
            },
            schema=REJECT_SCHEMA,
        )
        pq.write_table(reject_table, staging / "rejects.parquet")
        manifest = {
            "inputs": [{"path": str(f), "sha256": sha256_file(f)} for f in files],
            "seed": plan.seed,
            "plan": plan.__dict__,
            "labels": list(LABELS),
            "rows_usable": len(rows),
            "dropped": dict(dropped),
            "reject_reasons": dict(Counter(r.reason.split(":")[0] for r in rejects)),
            "splits": {
                "train": {"rows": len(train), "classes": _class_counts(train)},
                "validation": {"rows": len(validation), "classes": _class_counts(validation)},
                "holdout": {"rows": len(holdout), "classes": _class_counts(holdout)},
                "incoming": {"rows": len(incoming), "days": len(days), "classes": _class_counts(incoming)},
                "feedback": {"rows": len(feedback), "parts": len(parts), "classes": _class_counts(feedback)},
            },
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        _replace_dir(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _replace_dir(new: Path, target: Path) -> None:
    """Swap a complete folder into place; the previous one is removed only after the swap."""
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}-{secrets.token_hex(6)}")
        os.rename(target, old)
        os.rename(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(new, target)
