"""`sentiops label queue` and `sentiops label export`."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer

from sentiops.cli.common import fail, load_settings, utc_today, write_failed
from sentiops.cli.output import JsonOption, summary
from sentiops.exit_codes import ExitCode

label_app = typer.Typer(help="The labelling queue: what people should label next.", no_args_is_help=True)


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(
            utc_today(-1) if value == "yesterday" else utc_today() if value == "today" else value
        )
    except ValueError:
        fail(f"{name} must be YYYY-MM-DD, 'yesterday' or 'today', not {value!r}", ExitCode.USAGE)


@label_app.command("queue")
def label_queue(
    since: Annotated[str, typer.Option(help="First date (UTC) whose predictions may be picked.")] = "yesterday",
    until: Annotated[str, typer.Option(help="Last date (UTC).")] = "today",
    size: Annotated[int | None, typer.Option(help="Items to add (default SENTIOPS_LABEL_QUEUE_SIZE).")] = None,
    random_share: Annotated[
        float | None, typer.Option(help="Share picked at random (default SENTIOPS_LABEL_RANDOM_SHARE).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for the random picks (default: fresh).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Pick tweets of the prediction log and the batch scores for people to label: a random share,
    tweets of days whose drift checks fired, and the most uncertain. Never a text already labelled or
    queued, never holdout or validation text."""
    from sentiops.labelling.picking import refresh_queue

    settings = load_settings()
    if random_share is not None and not 0 <= random_share <= 1:
        fail("--random-share must be between 0 and 1", ExitCode.USAGE)
    try:
        refresh = refresh_queue(settings, _date(since, "--since"), _date(until, "--until"), size, random_share, seed)
    except OSError as exc:
        write_failed(exc)
    line = (
        f"queued {refresh.total} of {refresh.candidates} candidates "
        f"({', '.join(f'{k} {v}' for k, v in sorted(refresh.added.items())) or 'none'})"
        + (f"; drift fired on {', '.join(refresh.drift_dates)}" if refresh.drift_dates else "")
    )
    summary(as_json, {"added": refresh.added, "candidates": refresh.candidates, "path": str(refresh.path)}, line)


@label_app.command("export")
def label_export(
    format: Annotated[str, typer.Option("--format", help="label-studio, argilla or csv.")] = "csv",
    output: Annotated[Path | None, typer.Option(help="File to write (default: standard output).")] = None,
) -> None:
    """Write the queue's items that nobody has labelled yet in a labelling tool's import format;
    `sentiops feedback import --trusted` reads the tool's export back."""
    from sentiops.data.label_files import export_items, render_items
    from sentiops.labelling.queue import waiting_items

    settings = load_settings()
    if format not in ("label-studio", "argilla", "csv"):
        fail(f"unknown --format {format!r}: label-studio, argilla or csv", ExitCode.USAGE)
    items = [vars(i) for i in waiting_items(settings.data, settings.label_overlap_share)]
    try:
        if output is None:
            sys.stdout.write(render_items(items, format))  # type: ignore[arg-type]
            return
        export_items(items, format, output)  # type: ignore[arg-type]
    except OSError as exc:
        write_failed(exc)
    typer.echo(f"wrote {len(items)} items to {output} ({format})")
