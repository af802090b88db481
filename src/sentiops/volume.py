"""Where a scored date's files and locks live on the results volume: one object per date.

results/
  scores/date=D/part-0000I-of-0000N.parquet    one row per scored input row
  rejects/date=D/part-0000I-of-0000N.parquet   rows that could not be scored, with reasons
  runs/date=D/part-0000I-of-0000N.json         run manifest; written last = the shard is done
  runs/date=D/model.json                       the date's pinned model version and engine (pins.py)
  runs/date=D/drift-step.json                  the drift step's outcome (done / failed)
  .work/date=D/part-0000I-of-0000N/            state.json and the finished chunks of a run in progress
  .locks/date=D/part-0000I-of-0000N.lock       held while a run of the date+shard works
  drift/date=D/drift.json, report.html         the drift check of the date
  drift/history.parquet                        one row per checked date
Nothing else joins these paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Phase = Literal["new", "scoring", "done"]


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, spec: str | None, index: int | None = None, count: int = 1) -> Shard:
        """`I/N`; else ``index`` (an Indexed Job's JOB_COMPLETION_INDEX) of ``count``; else 0/1."""
        if spec is None and index is not None:
            spec = f"{index}/{count}"
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


@dataclass(frozen=True)
class DateFiles:
    results: Path
    date: str

    def _dir(self, kind: str) -> Path:
        return self.results / kind / f"date={self.date}"

    @property
    def scores(self) -> Path:
        return self._dir("scores")

    @property
    def score_files(self) -> list[Path]:
        """The day's finished score files, in order (one being written has a leading dot)."""
        return sorted(p for p in self.scores.glob("*.parquet") if not p.name.startswith("."))

    @property
    def rejects(self) -> Path:
        return self._dir("rejects")

    @property
    def runs(self) -> Path:
        return self._dir("runs")

    @property
    def pin(self) -> Path:
        return self.runs / "model.json"

    @property
    def pin_lock(self) -> Path:
        return self.runs / ".model.lock"

    @property
    def drift_step(self) -> Path:
        return self.runs / "drift-step.json"

    @property
    def drift(self) -> Path:
        return self._dir("drift")

    @property
    def drift_json(self) -> Path:
        return self.drift / "drift.json"

    @property
    def report(self) -> Path:
        return self.drift / "report.html"

    def shard(self, shard: Shard) -> ShardFiles:
        return ShardFiles(self, shard)

    def shards_done(self, count: int) -> bool:
        return all(self.shard(Shard(i, count)).manifest.is_file() for i in range(count))


@dataclass(frozen=True)
class ShardFiles:
    day: DateFiles
    shard: Shard

    @property
    def scores(self) -> Path:
        return self.day.scores / f"{self.shard.name}.parquet"

    @property
    def rejects(self) -> Path:
        return self.day.rejects / f"{self.shard.name}.parquet"

    @property
    def manifest(self) -> Path:
        return self.day.runs / f"{self.shard.name}.json"

    @property
    def lock(self) -> Path:
        """Held while a run of this date+shard works; a second run waits or gives up."""
        return self.day.results / ".locks" / f"date={self.day.date}" / f"{self.shard.name}.lock"

    @property
    def work(self) -> Path:
        return self.day.results / ".work" / f"date={self.day.date}" / self.shard.name

    @property
    def state(self) -> Path:
        return self.work / "state.json"

    def chunk(self, file_no: int, chunk_no: int) -> Path:
        return self.work / f"chunk-{file_no:04d}-{chunk_no:07d}.parquet"

    def chunk_rejects(self, chunk: Path) -> Path:
        return chunk.with_name(chunk.name.replace("chunk-", "rejects-"))

    def chunks(self) -> list[Path]:
        return sorted(self.work.glob("chunk-*.parquet"))

    @property
    def phase(self) -> Phase:
        """new: nothing started; scoring: started or interrupted (its state pins model, inputs and
        chunking); done: the manifest is written (the success marker, written last)."""
        if self.manifest.is_file():
            return "done"
        return "scoring" if self.state.is_file() else "new"


def drift_dir(results: Path) -> Path:
    return results / "drift"


def drift_history(results: Path) -> Path:
    return drift_dir(results) / "history.parquet"


def scored_dates(results: Path) -> list[str]:
    folder = results / "scores"
    return sorted(p.name.split("=", 1)[1] for p in folder.glob("date=*") if p.is_dir()) if folder.is_dir() else []
