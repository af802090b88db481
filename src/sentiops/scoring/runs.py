"""What a batch run is asked to do, what it reports back, and its exit code.

Where each file goes: sentiops/volume.py. The exit code is a pure function of what the run and
the date's drift step recorded (`exit_code`), so a retry of a finished run reports what it found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock

from sentiops.config import Settings
from sentiops.exit_codes import ExitCode
from sentiops.files import write_json_atomic
from sentiops.volume import Shard

RunStatus = Literal["scored", "skipped"]


@dataclass
class BatchOptions:
    """One `batch run`: which inputs, for which date and shard, and how."""

    inputs: list[Path]
    date: str | None = None  # default: today, UTC
    shard: Shard = field(default_factory=Shard)
    force: bool = False  # redo a date+shard that already succeeded
    max_reject_share: float | None = None  # default: Settings.batch_max_reject_share
    wait_seconds: float = 0  # wait this long for another run of the date+shard, then RunBusy
    drift: bool = False  # run the drift check once every shard of the date is done
    labels_file: Path | None = None  # labels of the inputs, for the drift check's performance


@dataclass
class RunResult:
    date: str
    shard: Shard
    status: RunStatus
    manifest: dict[str, Any] = field(default_factory=dict)
    drift_step: dict[str, Any] | None = None  # the drift step's record, when this run ran it

    @property
    def exit_code(self) -> ExitCode:
        return exit_code(self.manifest, self.drift_step)


def exit_code(manifest: dict[str, Any], drift_step: dict[str, Any] | None) -> ExitCode:
    """A failed drift step or alert wins (it needs a retry, which redoes it); then a reject
    share over the run's limit (results kept); else OK."""
    if drift_step is not None and drift_step.get("status") == "failed":
        return ExitCode.MONITORING_FAILED
    if manifest.get("reject_share", 0) > manifest.get("max_reject_share", 1.0):
        return ExitCode.TOO_MANY_REJECTS
    return ExitCode.OK


# -- simulation: walk through the incoming pool one day at a time --------------------------


@dataclass(frozen=True)
class SimulatedDay:
    tweets: Path
    labels: Path | None  # data prepare keeps each day's labels beside it, for the drift check


def next_simulated_day(settings: Settings, date: str) -> SimulatedDay:
    """The incoming day file for `date`: the one already assigned to it, else the next unused."""
    ledger = settings.results / "simulated_days.json"
    settings.results.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.results / ".simulate.lock")):
        assigned = json.loads(ledger.read_text()) if ledger.is_file() else {}
        if date not in assigned:
            days = sorted((settings.data / "incoming").glob("day-*.parquet"))
            used = set(assigned.values())
            remaining = [d for d in days if str(d) not in used]
            if not remaining:
                raise FileNotFoundError(
                    f"no unscored day left in {settings.data / 'incoming'}: run `sentiops data prepare` again"
                )
            assigned[date] = str(remaining[0])
            write_json_atomic(ledger, assigned)
    tweets = Path(assigned[date])
    labels = tweets.parent / "labels" / tweets.name
    return SimulatedDay(tweets, labels if labels.is_file() else None)
