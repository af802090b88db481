"""After a successful shard: the drift check, once all shards of the date are done.

With N shards the last one to finish runs it (under a lock, so it runs once). A failing check
or alert never touches the scored results; it is recorded in runs/date=D/drift-step.json, and
the run's exit code says so (runs.exit_code), so a retry of the finished run (a Kubernetes Job
retry, a rerun) redoes the step, and keeps failing, until it succeeds.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from filelock import FileLock

from sentiops.config import Settings
from sentiops.files import write_json_atomic
from sentiops.monitoring.check import recheck_late_labels, run_drift_check
from sentiops.scoring.runs import RunResult
from sentiops.volume import DateFiles, drift_dir

log = logging.getLogger("sentiops.batch")


def step_record(day: DateFiles) -> dict[str, Any] | None:
    return json.loads(day.drift_step.read_text()) if day.drift_step.is_file() else None


def run_drift_step(settings: Settings, result: RunResult, labels_file: Path | None) -> dict[str, Any] | None:
    """The step's record when this run ran it (or found it done); None while shards remain."""
    day = DateFiles(settings.results, result.date)
    if not day.shards_done(result.shard.count):
        return None
    drift_dir(settings.results).mkdir(parents=True, exist_ok=True)
    with FileLock(str(drift_dir(settings.results) / ".lock")):
        done = step_record(day)
        if result.status == "skipped" and done is not None and done.get("status") == "done":
            return done  # a retry of a finished run whose drift step succeeded: nothing to redo
        try:
            outcome = run_drift_check(settings, result.date, labels_file)
            recheck_late_labels(settings, skip=result.date)
        except Exception as exc:
            log.error("drift check failed: %s", exc)
            return _record(day, "failed", f"drift check failed: {exc}")
        if outcome.alert_failed:
            return _record(day, "failed", "alert delivery failed", outcome.paths["report"])
        return _record(day, "done", outcome.report.status, outcome.paths["report"])


def _record(day: DateFiles, status: str, detail: str, report: str = "") -> dict[str, Any]:
    at = dt.datetime.now(dt.UTC).isoformat()
    record = {"status": status, "detail": detail, "at": at}
    write_json_atomic(day.drift_step, record)
    return {**record, "report": report}
