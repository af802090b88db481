"""`sentiops retrain`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, cast

import typer

from sentiops.cli.common import fail, load_settings, write_failed
from sentiops.cli.output import JsonOption, VerboseOption, quiet_libraries, summary
from sentiops.exit_codes import ExitCode


def retrain(
    max_examples: Annotated[
        int, typer.Option(help="Training rows (new feedback plus replay).", envvar="SENTIOPS_RETRAIN_MAX_EXAMPLES")
    ] = 4000,
    epochs: Annotated[float, typer.Option(envvar="SENTIOPS_RETRAIN_EPOCHS")] = 1.0,
    start_from: Annotated[str, typer.Option("--from", help="production or base")] = "production",
    policy: Annotated[
        str,
        typer.Option(
            help="auto: promote if the gate passes; staging: set staging only", envvar="SENTIOPS_RETRAIN_POLICY"
        ),
    ] = "auto",
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    seed: int = 42,
    distill: Annotated[
        bool,
        typer.Option(
            help="Replayed rows and unlabelled traffic carry the teacher's probabilities (`sentiops teacher "
            "train --from-labels`), not emoticons.",
            envvar="SENTIOPS_RETRAIN_DISTILL",
        ),
    ] = False,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune a challenger on new labelled feedback; promote it only if the gate passes.
    Exit codes: 0 decided (promoted, staged or rejected), 2 cannot start (no data, bad data, busy)."""
    from sentiops.data.readers import CorruptInput
    from sentiops.registry import RegistryError
    from sentiops.training.gate import Policy
    from sentiops.training.retrain import RetrainError, RetrainOptions, StartFrom, decision_lines, notify
    from sentiops.training.retrain import retrain as run_retrain

    if start_from not in ("production", "base") or policy not in ("auto", "staging"):
        fail("--from must be production or base; --policy must be auto or staging", ExitCode.USAGE)
    settings = load_settings()
    quiet_libraries(verbose)  # after the logging set-up, which it narrows
    options = RetrainOptions(
        max_examples,
        epochs,
        cast(StartFrom, start_from),
        cast(Policy, policy),
        batch_size,
        learning_rate,
        seed,
        distill=distill,
    )
    try:
        decision = run_retrain(settings, options)
    except CorruptInput as exc:
        fail(str(exc), ExitCode.ERROR)
    except (RetrainError, RegistryError, FileNotFoundError) as exc:
        fail(str(exc), ExitCode.USAGE)
    except OSError as exc:
        write_failed(exc)
    summary(as_json, asdict(decision), "\n".join(decision_lines(decision)))
    deliveries = notify(settings, decision)
    if any(not d.delivered for d in deliveries):
        typer.secho("decision notification failed (see logs)", err=True)
