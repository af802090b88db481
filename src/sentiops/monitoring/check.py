"""`sentiops drift check`: profile a scored date, compare, report, record history, alert.

results/drift/date=D/drift.json    the checks with their numbers
results/drift/date=D/report.html   self-contained report
results/drift/history.parquet      one row per checked date (a rerun replaces its row)
results/alerts/state.json          de-duplication state; alerts/log.jsonl delivery log
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from filelock import FileLock

from sentiops.config import Settings
from sentiops.data.labels import LABEL2ID, detect_scheme, map_label
from sentiops.data.predictions import log_files, predictions_dir
from sentiops.data.readers import expand_inputs, iter_chunks
from sentiops.files import replaced_atomically, write_json_atomic
from sentiops.monitoring import report as html_report
from sentiops.monitoring.alerts import Delivery, Notifier, remember_alert, should_alert
from sentiops.monitoring.baseline import load_baseline
from sentiops.monitoring.checks import BY_NAME, CHECKS
from sentiops.monitoring.drift import LEVELS, DriftReport, check_batch, worst
from sentiops.monitoring.logged import logged_versions, read_logged_day
from sentiops.monitoring.profile import Profile
from sentiops.monitoring.realized import dates_with_late_labels, realized_for_date
from sentiops.monitoring.scored import read_day, version_counts
from sentiops.registry import Registry
from sentiops.volume import DateFiles, drift_history

log = logging.getLogger(__name__)


@dataclass
class DriftOutcome:
    date: str
    model_version: str
    report: DriftReport
    paths: dict
    source: str = "batch"  # batch scores, or "api": the prediction log of an API-only day
    deliveries: list[Delivery] = field(default_factory=list)
    alert_skipped: str | None = None

    @property
    def alert_failed(self) -> bool:
        return any(not d.delivered for d in self.deliveries)


def scores_dir(settings: Settings, results: str) -> tuple[str, Path | None]:
    """(date, folder) for a date (YYYY-MM-DD) or a folder of scored Parquet; the folder is None for
    a date with no batch scores but answers in the API's prediction log (an API-only day)."""
    path = Path(results)
    if path.is_dir():
        name = path.name
        return (name.split("=", 1)[1] if name.startswith("date=") else name), path
    folder = DateFiles(settings.results, results).scores
    if folder.is_dir():
        return results, folder
    if log_files(settings.results, results):
        return results, None
    raise FileNotFoundError(
        f"no scored results for {results} in {settings.results / 'scores'} and no API predictions "
        f"logged that day in {predictions_dir(settings.results)}"
    )


def _truth(labels_file: Path) -> dict[str, int]:
    """Row id -> label id of a labels file (the rows a performance check can grade)."""
    truth: dict[str, int] = {}
    for path in expand_inputs(labels_file):
        records = [r for chunk, _ in iter_chunks(path) for r in chunk]
        scheme = detect_scheme(r.label for r in records)
        for r in records:
            name = map_label(r.label, scheme)
            if name in LABEL2ID:
                truth[r.row_id] = LABEL2ID[name]
    return truth


def run_drift_check(
    settings: Settings,
    results: str,
    labels_file: Path | None = None,
    notify: bool = True,
    notifier: Notifier | None = None,
) -> DriftOutcome:
    date, folder = scores_dir(settings, results)
    if folder is None and labels_file is not None:
        raise ValueError(f"{date} has no batch scores: a labels file grades batch rows by row id")
    versions = version_counts([folder]) if folder is not None else logged_versions(settings.results, date)
    version = versions.most_common(1)[0][0] if versions else ""
    files = Registry(settings.registry).folder(version)
    reference = files.reference()
    if reference is None:
        raise FileNotFoundError(f"model version {version} has no reference profile")
    # One pass, chunk by chunk; no estimate for versions packaged before calibration.
    if folder is None:
        day_read = read_logged_day(settings.results, date, files, reference.temperature)
    else:
        truth = _truth(labels_file) if labels_file else None
        day_read = read_day([folder], reference.labels, reference.temperature, truth)
    batch, performance, estimate = day_read.profile, day_read.performance, day_read.estimate
    realized = realized_for_date(settings, date)
    training_report = check_batch(reference, batch, settings.drift, performance, estimate, realized=realized)
    report, provenance = training_report, None
    baseline = load_baseline(settings, version)
    if baseline is not None:
        # Distribution checks against what production looked like; performance checks stay
        # against the holdout (a baseline has no labels). The training comparison is kept beside.
        profile, provenance = baseline
        against = check_batch(profile, batch, settings.drift)
        kept = [c for c in training_report.checks if BY_NAME[c.name].against_holdout]
        checks = [*against.checks, *kept]
        report = DriftReport(worst(*(c.status for c in checks)), checks, batch.n, "production baseline")

    day = DateFiles(settings.results, date)
    day.drift.mkdir(parents=True, exist_ok=True)
    source = "api" if folder is None else "batch"
    record = {
        "date": date,
        "source": source,  # batch scores, or the API's logged answers (an API-only day)
        "model_version": version,
        "checked_at": time.time(),
        **report.as_dict(),
        "baseline": provenance,
        "training_reference": training_report.as_dict() if provenance else None,
        "labels_file": str(labels_file) if labels_file else None,
    }
    write_json_atomic(day.drift_json, record)
    history = _append_history(settings, date, version, report, batch, source)
    with replaced_atomically(day.report) as tmp:
        tmp.write_text(html_report.render(date, version, report, reference, batch, history))
    outcome = DriftOutcome(date, version, report, {"json": str(day.drift_json), "report": str(day.report)}, source)
    if notify and report.status in ("warning", "drift"):
        _alert(settings, outcome, notifier or Notifier(settings))
    log.info("drift check %s: %s (%s)", date, report.status, ", ".join(f"{c.name}={c.status}" for c in report.checks))
    return outcome


def recheck_late_labels(settings: Settings, skip: str | None = None) -> list[str]:
    """Check again (without alerting) every checked date for which labels arrived after its check,
    so its realized accuracy counts them; the history keeps the newest figures with their count."""
    history = drift_history(settings.results)
    if not history.is_file():
        return []
    dates = [d for d in pq.read_table(history, columns=["date"]).column(0).to_pylist() if d != skip]
    late = dates_with_late_labels(settings, dates)
    for date in late:
        record = json.loads(DateFiles(settings.results, date).drift_json.read_text())
        labels_file = Path(record["labels_file"]) if record.get("labels_file") else None
        run_drift_check(settings, date, labels_file, notify=False)
    return late


def _history_row(date: str, version: str, report: DriftReport, batch: Profile, source: str) -> dict[str, Any]:
    """One row of the history: the date's status and each check's columns (NaN where it did not run)."""
    numbers = {c.name: c.numbers for c in report.checks}
    row: dict[str, Any] = {"date": date, "model_version": version, "status": report.status, "n": report.n}
    row["source"] = source
    for check in CHECKS:
        row.update(check.history(numbers.get(check.name, {}), batch))
    return row


def _append_history(
    settings: Settings, date: str, version: str, report: DriftReport, batch: Profile, source: str
) -> pa.Table:
    path = drift_history(settings.results)
    row = pa.Table.from_pylist([_history_row(date, version, report, batch, source)])
    path.parent.mkdir(parents=True, exist_ok=True)
    # Under a lock: two checks of different dates at once must not drop each other's row.
    with FileLock(str(path.with_name(".history.lock"))):
        if path.is_file():
            old = pq.read_table(path)
            old = old.filter(pc.not_equal(old.column("date"), date))
            table = pa.concat_tables([old, row], promote_options="permissive").sort_by(
                "date"
            )  # older files lack new columns
        else:
            table = row
        with replaced_atomically(path) as tmp:
            pq.write_table(table, tmp)
    return table


def _alert(settings: Settings, outcome: DriftOutcome, notifier: Notifier) -> None:
    report = outcome.report
    if not notifier.configured:
        outcome.alert_skipped = "no alert channel configured"
        return
    fired = report.fired()
    key = "drift:" + ",".join(sorted(c.name for c in fired))
    severity = float(sum(LEVELS[c.status] for c in fired))
    state = settings.results / "alerts" / "state.json"
    if not should_alert(state, key, severity, settings.alert_repeat_hours):
        outcome.alert_skipped = "duplicate of a recent alert (not worse)"
        return
    what = "the API's answers of" if outcome.source == "api" else "batch"
    title = f"sentiops drift {report.status.upper()}: {what} {outcome.date}, model version {outcome.model_version}"
    lines = [f"- {c.name}: {c.status} — {c.message}. {BY_NAME[c.name].advice}" for c in fired]
    lines.append(f"Report: {outcome.paths['report']}")
    payload = {
        "kind": "drift",
        "date": outcome.date,
        "source": outcome.source,
        "model_version": outcome.model_version,
        **report.as_dict(),
        "report": outcome.paths["report"],
    }
    outcome.deliveries = notifier.send(title, lines, payload)
    if outcome.deliveries and all(d.delivered for d in outcome.deliveries):
        remember_alert(state, key, severity)
    log_file = settings.results / "alerts" / "log.jsonl"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a") as handle:
        handle.write(
            json.dumps({"time": time.time(), "key": key, "deliveries": [asdict(d) for d in outcome.deliveries]}) + "\n"
        )
