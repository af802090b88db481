"""Where a batch run's files live, which shard a pod scores, and how a run reports back.

results/
  scores/date=D/part-0000I-of-0000N.parquet     one row per scored input row
  rejects/date=D/part-0000I-of-0000N.parquet    rows that could not be scored, with reasons
  runs/date=D/part-0000I-of-0000N.json          run manifest; written last = success marker
  .work/date=D/part-0000I-of-0000N/             finished chunks of a run in progress
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock

from sentiops.config import Settings
from sentiops.exit_codes import ExitCode
from sentiops.files import write_json_atomic

RunStatus = Literal["scored", "skipped"]


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, spec: str | None) -> Shard:
        """`I/N`; else the Indexed Job's JOB_COMPLETION_INDEX with SENTIOPS_SHARD_COUNT; else 0/1."""
        if spec is None and "JOB_COMPLETION_INDEX" in os.environ:
            spec = f"{os.environ['JOB_COMPLETION_INDEX']}/{os.environ.get('SENTIOPS_SHARD_COUNT', '1')}"
        if spec is None:
            return cls()
        try:
            index, count = (int(part) for part in spec.split("/"))
        except ValueError as exc:
            raise ValueError(f"shard must look like I/N (for example 0/4), got {spec!r}") from exc
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"shard {spec!r} out of range: need 0 <= I < N")
        return cls(index, count)

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}-of-{self.count:05d}"


@dataclass
class RunResult:
    date: str
    shard: Shard
    status: RunStatus
    manifest: dict[str, Any] = field(default_factory=dict)
    exit_code: ExitCode = ExitCode.OK


@dataclass
class BatchPaths:
    results: Path
    date: str
    shard: Shard

    def _p(self, kind: str, suffix: str = ".parquet") -> Path:
        return self.results / kind / f"date={self.date}" / f"{self.shard.name}{suffix}"

    @property
    def scores(self) -> Path:
        return self._p("scores")

    @property
    def rejects(self) -> Path:
        return self._p("rejects")

    @property
    def manifest(self) -> Path:
        return self._p("runs", ".json")

    @property
    def lock(self) -> Path:
        """Held while a run of this date+shard works; a second run waits or gives up."""
        return self.results / ".locks" / f"date={self.date}" / f"{self.shard.name}.lock"

    @property
    def work(self) -> Path:
        return self.results / ".work" / f"date={self.date}" / self.shard.name


# -- simulation: walk through the incoming pool one day at a time --------------------------


def next_simulated_day(settings: Settings, date: str) -> Path:
    """The incoming day file for `date`: the one already assigned to it, else the next unused."""
    ledger = settings.results / "simulated_days.json"
    settings.results.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.results / ".simulate.lock")):
        assigned = json.loads(ledger.read_text()) if ledger.is_file() else {}
        if date in assigned:
            return Path(assigned[date])
        days = sorted((settings.data / "incoming").glob("day-*.parquet"))
        used = set(assigned.values())
        remaining = [d for d in days if str(d) not in used]
        if not remaining:
            raise FileNotFoundError(
                f"no unscored day left in {settings.data / 'incoming'}: run `sentiops data prepare` again"
            )
        assigned[date] = str(remaining[0])
        write_json_atomic(ledger, assigned)
        return remaining[0]


def all_shards_done(settings: Settings, date: str, count: int) -> bool:
    return all(BatchPaths(settings.results, date, Shard(i, count)).manifest.is_file() for i in range(count))
