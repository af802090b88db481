"""Which model version each scored date uses, and which versions unfinished runs still need.

The first shard of a date to start resolves `production` and records it; every other shard and
every retry of that date scores with the same version, so a promotion during the day never
mixes two models in one date. Retention asks `pinned_versions` before deleting anything.

    results/runs/date=D/model.json    {"model_version": "3", "backend": "openvino-int8", "shard_count": 4, ...}

The engine is pinned the same way: with `auto`, the first run of a date picks it by timing and
every later shard or retry uses that one, so a date's scores do not depend on which engine
happened to time fastest in each pod.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from sentiops.files import write_json_atomic
from sentiops.volume import DateFiles


def pin_model(day: DateFiles, shard_count: int, resolve: Callable[[], str]) -> str:
    """The version the date scores with: the recorded one, else ``resolve()`` recorded now."""
    day.runs.mkdir(parents=True, exist_ok=True)
    with FileLock(str(day.pin_lock)):
        if day.pin.is_file():
            return str(json.loads(day.pin.read_text())["model_version"])
        version = resolve()
        pinned_at = dt.datetime.now(dt.UTC).isoformat()
        write_json_atomic(day.pin, {"model_version": version, "shard_count": shard_count, "pinned_at": pinned_at})
        return version


def pin_backend(day: DateFiles, backend: str) -> str:
    """The engine the date scores with: the recorded one, else ``backend`` recorded now."""
    with FileLock(str(day.pin_lock)):
        record = json.loads(day.pin.read_text())
        if record.get("backend"):
            return str(record["backend"])
        write_json_atomic(day.pin, {**record, "backend": backend})
        return backend


def pinned_backend(day: DateFiles) -> str | None:
    return json.loads(day.pin.read_text()).get("backend") if day.pin.is_file() else None


def pinned_versions(results: Path) -> set[str]:
    """Versions that a run in progress, or a date with shards still to score, depends on."""
    pinned = set()
    for state in results.glob(".work/date=*/*/state.json"):
        try:
            pinned.add(str(json.loads(state.read_text())["model_version"]))
        except (OSError, ValueError, KeyError):
            continue  # a half-written state file pins nothing it could name
    for pin in results.glob("runs/date=*/model.json"):
        try:
            record = json.loads(pin.read_text())
        except (OSError, ValueError):
            continue
        finished = len(list(pin.parent.glob("part-*.json")))
        if finished < int(record.get("shard_count", 1)):
            pinned.add(str(record["model_version"]))
    return pinned
