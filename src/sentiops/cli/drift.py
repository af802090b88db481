"""`sentiops drift check|report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sentiops.cli.common import fail, load_settings, open_registry, write_failed
from sentiops.exit_codes import ExitCode

drift_app = typer.Typer(help="Drift checks and reports.", no_args_is_help=True)


@drift_app.command("check")
def drift_check(
    results: Annotated[str, typer.Option(help="A scored date (YYYY-MM-DD) or a folder of scored Parquet.")],
    labels: Annotated[Path | None, typer.Option(help="Labelled file (row ids + labels) for performance.")] = None,
    notify: Annotated[bool, typer.Option(help="Send alerts for warnings and drift.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Compare a scored batch with the model's reference profile; exit 0 ok, 4 alert failed."""
    from sentiops.data.readers import CorruptInput
    from sentiops.monitoring.check import recheck_late_labels, run_drift_check

    settings = load_settings()
    try:
        outcome = run_drift_check(settings, results, labels, notify=notify)
        late = recheck_late_labels(settings, skip=outcome.date)
    except CorruptInput as exc:
        fail(str(exc), ExitCode.ERROR)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc), ExitCode.USAGE)
    except OSError as exc:
        write_failed(exc)
    if as_json:
        typer.echo(json.dumps(outcome.report.as_dict(), indent=2))
    for check in outcome.report.checks:
        typer.echo(f"{check.name:<18} {check.status:<8} {check.message}")
    checked = "the API's answers (no batch scores that day)" if outcome.source == "api" else "the batch scores"
    typer.echo(f"overall: {outcome.report.status} on {checked}; report: {outcome.paths['report']}")
    if late:
        typer.echo(f"labels arrived late for {', '.join(late)}: their realized accuracy was recomputed")
    if outcome.alert_skipped:
        typer.echo(f"alert not sent: {outcome.alert_skipped}")
    if outcome.alert_failed:
        raise typer.Exit(ExitCode.MONITORING_FAILED)


@drift_app.command("report")
def drift_report(date: Annotated[str, typer.Option(help="Scored date YYYY-MM-DD.")]) -> None:
    """Rebuild the HTML report (and drift.json) of a date, without alerting."""
    from sentiops.data.readers import CorruptInput
    from sentiops.monitoring.check import run_drift_check

    settings = load_settings()
    try:
        outcome = run_drift_check(settings, date, notify=False)
    except CorruptInput as exc:
        fail(str(exc), ExitCode.ERROR)
    except FileNotFoundError as exc:
        fail(str(exc), ExitCode.USAGE)
    except OSError as exc:
        write_failed(exc)
    typer.echo(outcome.paths["report"])


@drift_app.command("baseline")
def drift_baseline(
    dates: Annotated[str, typer.Option(help="Scored dates D1,D2,... or a range D1..Dn (inclusive).")],
) -> None:
    """Set the production baseline from scored days: later checks grade drift against what
    production looked like (a stable class balance that differs from training stops alarming)."""
    import datetime as dt

    from sentiops.data.readers import CorruptInput
    from sentiops.monitoring.baseline import build_baseline
    from sentiops.registry import RegistryError
    from sentiops.volume import DateFiles

    settings = load_settings()
    if ".." in dates:
        first, last = (dt.date.fromisoformat(d) for d in dates.split(".."))
        days = [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
        days = [d for d in days if DateFiles(settings.results, d).scores.is_dir()]
    else:
        days = [d.strip() for d in dates.split(",") if d.strip()]
    try:
        registry = open_registry(settings)
        labels = registry.folder(registry.resolve("production")).labels()
        record = build_baseline(settings, days, labels)
    except CorruptInput as exc:
        fail(str(exc), ExitCode.ERROR)
    except (FileNotFoundError, ValueError, RegistryError) as exc:
        fail(str(exc), ExitCode.USAGE)
    except OSError as exc:
        write_failed(exc)
    provenance = record["provenance"]
    shares = record["profile"]["class_shares"]
    typer.echo(
        f"baseline set from {len(provenance['dates'])} days, {provenance['rows']} rows, model version "
        f"{provenance['model_version']}; class shares {shares}"
    )
