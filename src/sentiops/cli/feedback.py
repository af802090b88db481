"""`sentiops feedback import` and `sentiops predictions prune`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sentiops.cli.common import LabelSchemeOption, fail, label_scheme, load_settings, write_failed
from sentiops.cli.output import JsonOption, summary
from sentiops.exit_codes import ExitCode

feedback_app = typer.Typer(help="Labels that come back from people.", no_args_is_help=True)
predictions_app = typer.Typer(help="The API's prediction log.", no_args_is_help=True)


@feedback_app.command("import")
def feedback_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="Labels: text + label, or prediction_id + label (CSV, JSONL, Parquet); Label Studio's JSON, "
            "JSON-MIN or CSV export; Argilla's records (records.json or its to_disk folder)."
        ),
    ],
    source: Annotated[str, typer.Option(help="Where the labels come from (recorded with each).")] = "import",
    picked: Annotated[
        str, typer.Option(help="How the labelled tweets were chosen: random (an unbiased sample) or picked.")
    ] = "random",
    trusted: Annotated[
        bool,
        typer.Option(
            help="People you trust labelled these (your labelling tool): the gate's evidence may come from them."
        ),
    ] = False,
    scheme: LabelSchemeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add labels to the feedback store that `retrain` reads, as one new part; refused rows go to
    data/feedback/rejects/ with their reasons. Exit 0 when the part is written (or nothing was
    usable), 1 when the file is unreadable."""
    from sentiops.data.feedback import add_labels, counts
    from sentiops.data.label_files import UNLABELLED, read_import
    from sentiops.data.readers import CorruptInput, InputError
    from sentiops.labelling.queue import all_items

    settings = load_settings()
    if picked not in ("random", "picked"):
        fail(f"--picked must be random or picked, not {picked!r}", ExitCode.USAGE)
    try:
        read = read_import(file, source, label_scheme(scheme), picked, trusted)
        labels = [x for x in read if x.problem != UNLABELLED]
        # A queued item keeps why it was picked (random ones grade realized accuracy).
        reasons = {i.item_id: i.picked for i in all_items(settings.data)}
        for label in labels:
            label.picked = reasons.get(label.prediction_id or "", label.picked)
        outcome = add_labels(settings.data, settings.results, labels, settings.max_text_chars)
    except (CorruptInput, InputError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        write_failed(exc)
    found = counts(outcome)
    line = (
        f"{len(read)} rows ({len(read) - len(labels)} not labelled yet): "
        f"{outcome.accepted} labels added ({outcome.relabels} relabels), "
        f"{outcome.duplicates} duplicates, {outcome.conflicts} conflicting, {len(outcome.rejected)} refused"
        + (f"; part {outcome.part}" if outcome.part else "")
    )
    summary(
        as_json,
        {**found, "unlabelled": len(read) - len(labels), "part": str(outcome.part) if outcome.part else None},
        line,
    )


@predictions_app.command("prune")
def predictions_prune(
    keep_days: Annotated[
        int | None, typer.Option(help="Days to keep (default SENTIOPS_PREDICTION_LOG_RETENTION_DAYS).")
    ] = None,
) -> None:
    """Delete the prediction log's days older than the retention (the daily CronJob runs it)."""
    from sentiops.data.predictions import prune

    settings = load_settings()
    days = settings.prediction_log_retention_days if keep_days is None else keep_days
    try:
        removed = prune(settings.results, days)
    except OSError as exc:
        write_failed(exc)
    typer.echo(f"prediction log: kept {days} days; removed {len(removed)} ({', '.join(removed) or 'none'})")


@feedback_app.command("compact")
def feedback_compact() -> None:
    """Index the feedback store: every part's rows in one file that readers open first (the daily
    CronJob runs it; the parts stay, retrain's lineage names them)."""
    from sentiops.data.feedback_reader import compact

    settings = load_settings()
    try:
        covered = compact(settings.data)
    except OSError as exc:
        write_failed(exc)
    typer.echo(f"feedback store: {covered} parts indexed")
