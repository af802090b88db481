"""After a successful shard: the drift check, once all shards of the date are done.

With N shards the last one to finish runs it (under a lock, so it runs once). A failing check
or alert never touches the scored results; it shows in the exit status (ExitCode.MONITORING_FAILED,
which wins over TOO_MANY_REJECTS because it needs a retry) and is recorded in
runs/date=D/drift-step.json, so a retry of the finished run (a Kubernetes Job retry, a rerun)
redoes the step, and keeps failing, until it succeeds.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from sentiops.config import Settings
from sentiops.exit_codes import ExitCode
from sentiops.files import write_json_atomic
from sentiops.monitoring.check import run_drift_check
from sentiops.scoring.runs import RunResult, all_shards_done

log = logging.getLogger("sentiops.batch")


def step_file(settings: Settings, date: str) -> Path:
    return settings.results / "runs" / f"date={date}" / "drift-step.json"


def step_done(settings: Settings, date: str) -> bool:
    path = step_file(settings, date)
    return path.is_file() and json.loads(path.read_text()).get("status") == "done"


def _record(settings: Settings, date: str, status: str, detail: str = "") -> None:
    at = dt.datetime.now(dt.UTC).isoformat()
    write_json_atomic(step_file(settings, date), {"status": status, "detail": detail, "at": at})


def drift_hook(
    settings: Settings, labels_file: Path | None, echo: Callable[[str], None] = print
) -> Callable[[RunResult], None]:
    def hook(result: RunResult) -> None:
        if not all_shards_done(settings, result.date, result.shard.count):
            return
        (settings.results / "drift").mkdir(parents=True, exist_ok=True)
        with FileLock(str(settings.results / "drift" / ".lock")):
            if result.status == "skipped" and step_done(settings, result.date):
                return  # a retry of a finished run whose drift step succeeded: nothing to redo
            try:
                outcome = run_drift_check(settings, result.date, labels_file)
            except Exception as exc:
                log.error("drift check failed: %s", exc)
                _record(settings, result.date, "failed", f"drift check failed: {exc}")
                result.exit_code = ExitCode.MONITORING_FAILED
                return
            if outcome.alert_failed:
                _record(settings, result.date, "failed", "alert delivery failed")
                result.exit_code = ExitCode.MONITORING_FAILED
            else:
                _record(settings, result.date, "done", outcome.report.status)
        echo(f"drift {result.date}: {outcome.report.status} (report: {outcome.paths['report']})")

    return hook
