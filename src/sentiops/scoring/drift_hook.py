"""After a successful shard: the drift check, once all shards of the date are done.

With N shards the last one to finish runs it (under a lock, so it runs once). A failing check
or alert never touches the scored results; it shows in the exit status (ExitCode.MONITORING_FAILED).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from sentiops.config import Settings
from sentiops.exit_codes import ExitCode
from sentiops.monitoring.check import run_drift_check
from sentiops.scoring.runs import RunResult, all_shards_done

log = logging.getLogger("sentiops.batch")


def drift_hook(
    settings: Settings, labels_file: Path | None, echo: Callable[[str], None] = print
) -> Callable[[RunResult], None]:
    def hook(result: RunResult) -> None:
        if not all_shards_done(settings, result.date, result.shard.count):
            return
        (settings.results / "drift").mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(settings.results / "drift" / ".lock")):
                outcome = run_drift_check(settings, result.date, labels_file)
        except Exception as exc:
            log.error("drift check failed: %s", exc)
            result.exit_code = result.exit_code or ExitCode.MONITORING_FAILED
            return
        echo(f"drift {result.date}: {outcome.report.status} (report: {outcome.paths['report']})")
        if outcome.alert_failed:
            result.exit_code = result.exit_code or ExitCode.MONITORING_FAILED

    return hook
