"""What long commands print: one progress bar and a short summary by default; the libraries'
own output with --verbose; the summary as one JSON object with --json.

Training libraries are loud (the Trainer logs a dictionary per step, transformers and NNCF
draw their own bars, ONNX Runtime's quantiser warns about pre-processing). None of that
helps someone running `sentiops train`; all of it stays one flag away.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from typing import Annotated, Any

import typer

from sentiops.logs import set_library_output

VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Show the libraries' own logs and progress.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")]


def quiet_libraries(verbose: bool) -> None:
    """Silence library chatter unless asked for. Progress bars of our own stay (and disappear
    where stderr is no terminal, as in a Job's log, which gets the summary line instead)."""
    set_library_output(verbose)
    if verbose:
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    for name in ("transformers", "nncf", "onnxruntime", "root", "torch", "accelerate"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger().setLevel(logging.WARNING)
    try:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    except ImportError:  # the serve image has no transformers: nothing to quiet
        pass


def summary(as_json: bool, data: dict[str, Any], line: str) -> None:
    typer.echo(json.dumps(data, indent=2, default=str) if as_json else line)


def progress(total: int | None, unit: str, description: str) -> Any:
    """One tqdm bar on stderr (off where stderr is no terminal; stdout stays for the summary)."""
    from tqdm import tqdm

    hidden = not sys.stderr.isatty()
    return tqdm(total=total, unit=unit, desc=description, disable=hidden, leave=False, dynamic_ncols=True)
