"""`sentiops batch run`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sentiops import tracing
from sentiops.cli.common import fail, load_settings, utc_today, write_failed
from sentiops.cli.output import JsonOption, VerboseOption, progress, quiet_libraries, summary
from sentiops.config import Settings
from sentiops.data.predictions import log_files
from sentiops.exit_codes import ExitCode

batch_app = typer.Typer(help="Score batches of tweets.", no_args_is_help=True)


@batch_app.command("run")
def batch_run(
    input: Annotated[list[str] | None, typer.Option("--input", "-i", help="File, folder or glob; repeatable.")] = None,
    output: Annotated[Path | None, typer.Option(help="Results folder (default: $SENTIOPS_HOME/results).")] = None,
    date: Annotated[
        str | None,
        typer.Option(
            help="Partition date YYYY-MM-DD, or 'yesterday' / 'today' (UTC; default today).",
            envvar="SENTIOPS_BATCH_DATE",
        ),
    ] = None,
    shard: Annotated[
        str | None, typer.Option(help="I/N: score shard I of N (default: Indexed Job env or 0/1).")
    ] = None,
    simulate: Annotated[bool, typer.Option(help="Score the next unscored day of the incoming pool.")] = False,
    force: Annotated[bool, typer.Option(help="Redo a date+shard that already succeeded.")] = False,
    max_reject_share: Annotated[float | None, typer.Option(help="Exit 3 above this reject share.")] = None,
    drift: Annotated[bool, typer.Option(help="Run the drift check when all shards of the date are done.")] = True,
    prune_predictions: Annotated[
        bool,
        typer.Option(help="Also delete the API's prediction log older than SENTIOPS_PREDICTION_LOG_RETENTION_DAYS."),
    ] = False,
    compact_feedback: Annotated[
        bool, typer.Option(help="Also index the feedback store (`sentiops feedback compact`) for fast reads.")
    ] = False,
    wait_seconds: Annotated[
        float, typer.Option(help="If another run of this date+shard is working, wait this long for it (then exit 5).")
    ] = 0,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Score tweets into date-partitioned Parquet. Exit codes: 0 ok (or already done), 1 unexpected
    error, 2 bad input or no model, 3 reject share over the limit (results kept), 4 drift check or alert
    failed (results kept; a retry redoes it), 5 another run of this date+shard is working; see
    sentiops/exit_codes.py."""
    from sentiops.data.readers import CorruptInput, InputError
    from sentiops.registry import RegistryError
    from sentiops.scoring.job import RunBusy, run_batch
    from sentiops.scoring.runs import BatchOptions, next_simulated_day
    from sentiops.volume import Shard

    settings = load_settings()
    quiet_libraries(verbose)
    if output is not None:
        settings = settings.model_copy(update={"results_dir": output})
    day = utc_today(-1) if date == "yesterday" else utc_today() if date in (None, "today") else date
    try:
        parsed = Shard.parse(shard, settings.job_completion_index, settings.shard_count)
        options = BatchOptions([], day, parsed, force, max_reject_share, wait_seconds, drift)
        if simulate:
            simulated = next_simulated_day(settings, day)
            options.inputs, options.labels_file = [simulated.tweets], simulated.labels
        elif input:
            options.inputs = [Path(i) for i in input]
        elif settings.batch_input:
            spec = settings.batch_input.replace("{date}", day)
            if not _readable(spec) and log_files(settings.results, day):
                # The daily CronJob of an API-only deployment: no batch input, but the API answered.
                code = _check_api_day(settings, day, parsed.index == parsed.count - 1 and drift)
                _housekeeping(settings, day, prune_predictions, compact_feedback, refresh=True)
                raise typer.Exit(int(code))
            options.inputs = [Path(spec)]
        else:
            fail("give --input PATH, --simulate, or set SENTIOPS_BATCH_INPUT", ExitCode.USAGE)
        tracer = tracing.start("sentiops-batch")  # None unless OTEL_* configure an exporter
        try:
            with progress(None, "rows", f"scoring {day}") as bar:
                result = run_batch(settings, options, on_rows=bar.update, tracer=tracer)
        finally:
            tracing.stop(tracer)  # export the run's spans before the process ends
    except RunBusy as exc:
        fail(str(exc), ExitCode.BUSY)
    except CorruptInput as exc:
        fail(str(exc), ExitCode.ERROR)
    except (InputError, RegistryError, ValueError, FileNotFoundError) as exc:
        fail(str(exc), ExitCode.USAGE)
    except OSError as exc:
        write_failed(exc)
    m = result.manifest
    if result.status == "skipped":
        line = f"{day} {parsed.name}: already scored ({m.get('rows_scored')} rows); nothing to do"
    else:
        line = (
            f"{day} {parsed.name}: read {m['rows_read']}, scored {m['rows_scored']}, rejected {m['rows_rejected']} "
            f"({m['reject_share']:.2%}), model {m['model_version']} on {m.get('backend')}, "
            f"{m['rows_per_second']} rows/s, {m['chunks_resumed']} of {m['chunks']} chunks resumed"
        )
    step = result.drift_step
    if step is not None and step.get("report"):
        typer.echo(
            f"drift {day}: {step['detail'] if step['status'] == 'done' else step['status']} (report: {step['report']})"
        )
    _housekeeping(settings, day, prune_predictions, compact_feedback, refresh=step is not None)
    summary(as_json, {"status": result.status, "exit_code": int(result.exit_code), **m}, line)
    if result.exit_code == ExitCode.TOO_MANY_REJECTS:
        typer.secho(f"reject share {m['reject_share']:.2%} is over the limit {m['max_reject_share']:.2%}", err=True)
    raise typer.Exit(int(result.exit_code))


def _readable(spec: str) -> bool:
    from sentiops.data.readers import InputError, expand_inputs

    try:
        return bool(expand_inputs(spec))
    except InputError:
        return False


def _check_api_day(settings: Settings, day: str, check: bool) -> ExitCode:
    """Check the date's API answers (the prediction log) as a batch day's scores are checked:
    the drift checks, the label-free estimate and realized accuracy on the labels that came back."""
    from sentiops.monitoring.check import recheck_late_labels, run_drift_check

    typer.echo(f"no batch input for {day}: checking the API's answers of {day} (the prediction log)")
    if not check:  # another shard of an Indexed Job does it, or --no-drift
        return ExitCode.OK
    try:
        outcome = run_drift_check(settings, day)
        recheck_late_labels(settings, skip=day)
    except (FileNotFoundError, ValueError) as exc:
        typer.secho(f"drift check of the API's answers failed: {exc}", err=True)
        return ExitCode.MONITORING_FAILED
    typer.echo(f"drift {day} (API answers): {outcome.report.status} (report: {outcome.paths['report']})")
    return ExitCode.MONITORING_FAILED if outcome.alert_failed else ExitCode.OK


def _housekeeping(settings: Settings, day: str, prune_predictions: bool, compact_feedback: bool, refresh: bool) -> None:
    """What the daily CronJob does after scoring: prune the log, index the store, refresh the queue."""
    if prune_predictions:
        from sentiops.data.predictions import prune

        removed = prune(settings.results, settings.prediction_log_retention_days)
        typer.echo(f"prediction log: removed {len(removed)} days older than {settings.prediction_log_retention_days}")
    if compact_feedback:
        from sentiops.data.feedback_reader import compact

        typer.echo(f"feedback store: {compact(settings.data)} parts indexed")
    if refresh and settings.label_queue_size > 0:
        # The daily refresh of the labelling queue: after the drift check, so a day that fired is known.
        import datetime as dt

        from sentiops.labelling.picking import refresh_queue

        try:
            scored = dt.date.fromisoformat(day)
            added = refresh_queue(settings, scored, scored)
            typer.echo(f"labelling queue: added {added.total} items ({added.added or 'none'})")
        except OSError as exc:  # the scores are published either way; the next run refreshes it
            typer.secho(f"labelling queue not refreshed: {exc}", err=True)
