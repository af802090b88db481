"""`sentiops data prepare`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sentiops.cli.common import LabelSchemeOption, fail, load_settings, write_failed
from sentiops.cli.common import label_scheme as parse_scheme
from sentiops.cli.output import JsonOption, VerboseOption, progress, quiet_libraries, summary

data_app = typer.Typer(help="Prepare data.", no_args_is_help=True)


@data_app.command("prepare")
def data_prepare(
    input: Annotated[list[Path], typer.Option("--input", "-i", help="File, folder or glob; repeatable.")],
    output: Annotated[Path | None, typer.Option(help="Output folder (default: $SENTIOPS_HOME/data).")] = None,
    seed: int = 42,
    day_rows: Annotated[int, typer.Option(help="Rows per daily incoming batch.")] = 1000,
    validation_rows: int = 2000,
    holdout_rows: int = 2000,
    label_scheme: LabelSchemeOption = None,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Read, clean, de-duplicate and split tweets; write Parquet pools and a manifest."""
    from sentiops.data.prepare import SplitPlan, prepare
    from sentiops.data.readers import CorruptInput, InputError

    settings = load_settings()
    quiet_libraries(verbose)
    plan = SplitPlan(seed=seed, day_rows=day_rows, validation_rows=validation_rows, holdout_rows=holdout_rows)
    try:
        with progress(None, "rows", "reading") as bar:
            manifest = prepare(input, output or settings.data, plan, parse_scheme(label_scheme), on_rows=bar.update)
    except CorruptInput as exc:
        fail(str(exc))  # exit 1, the file named
    except (InputError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    except OSError as exc:
        write_failed(exc)
    splits = manifest["splits"]
    summary(
        as_json,
        manifest,
        f"usable {manifest['rows_usable']} rows; dropped {manifest['dropped']}; "
        + "; ".join(f"{k}={v['rows']}" for k, v in splits.items()),
    )
