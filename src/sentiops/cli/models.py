"""`sentiops models list|show|promote|rollback|compare`."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer

from sentiops.cli.common import fail, load_settings, open_registry
from sentiops.cli.output import summary
from sentiops.exit_codes import ExitCode

models_app = typer.Typer(help="Inspect and move registry versions.", no_args_is_help=True)


@models_app.command("list")
def models_list() -> None:
    """Versions with their validation accuracy and aliases."""
    registry = open_registry(load_settings())
    aliases = registry.aliases()
    for version in registry.versions():
        tags = [name for name, target in aliases.items() if target == version]
        files = registry.folder(version)
        holdout = files.metrics().holdout
        accuracy = holdout.accuracy if holdout else None
        parent = files.training().parent_version
        typer.echo(
            f"{version:>4}  holdout_acc={accuracy if accuracy is None else round(accuracy, 4)}  "
            f"parent={parent}  {' '.join(tags)}"
        )


@models_app.command("show")
def models_show(version: Annotated[str, typer.Argument()] = "production") -> None:
    """Training record, metrics and checksum status of one version."""
    from sentiops.registry import RegistryError

    registry = open_registry(load_settings())
    try:
        number = registry.resolve(version)
        try:
            registry.verify(number)
            verified = "ok"
        except RegistryError as exc:
            verified = f"FAILED: {exc}"
        files = registry.folder(number)
        info: dict[str, Any] = {
            "version": number,
            "checksums": verified,
            "training": files.training().model_dump(mode="json", exclude_unset=True, exclude={"loss_history"}),
            "metrics": files.metrics().model_dump(mode="json", exclude_unset=True),
        }
    except RegistryError as exc:
        fail(str(exc))
    typer.echo(json.dumps(info, indent=2))


@models_app.command("card")
def models_card(
    version: Annotated[str, typer.Argument(help="A version number or alias.")] = "production",
    form: Annotated[str, typer.Option("--format", help="md, html or json.")] = "md",
) -> None:
    """The version's model card: data, recipe, accuracy with intervals, calibration, engines,
    its promotion and known limits (sentiops/card.py). A version older than cards is carded from
    its files, its missing numbers said as missing."""
    from sentiops.card import model_card, render
    from sentiops.registry import RegistryError

    if form not in ("md", "html", "json"):
        fail(f"--format {form!r}: expected md, html or json")
    settings = load_settings()
    registry = open_registry(settings)
    try:
        number = registry.resolve(version)
        registry.verify(number)  # the card's facts are the version's files: only a verified version's
        card = model_card(registry, number, settings.results)
    except RegistryError as exc:
        fail(str(exc))
    typer.echo(render(card, form))


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="a version number, or staging")],
    alias: Annotated[str, typer.Option(help="production or staging")] = "production",
    if_live: Annotated[
        bool, typer.Option("--if-live", help="promote staging only if its live shadow evidence passes")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="--if-live: evidence since this date (default: staging set)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Point an alias at a version (after verifying its checksums); with --if-live, staging
    becomes production only on live evidence (docs/live-trials.md). A refusal exits 0, as a
    retrain's rejection does; the decision log says why."""
    from sentiops.registry import RegistryError

    settings = load_settings()
    registry = open_registry(settings)
    if if_live:
        from sentiops.monitoring.live import decision_lines, live_decision

        if version != "staging" or alias != "production":
            fail("--if-live promotes staging to production: sentiops models promote staging --if-live", ExitCode.USAGE)
        try:
            decision = live_decision(settings, _since(since))
        except RegistryError as exc:
            fail(str(exc))
        summary(as_json, decision, "\n".join(decision_lines(decision)))
        return
    try:
        number = registry.resolve(version)
        registry.verify(number)
        previous = registry.set_alias(alias, number, reason="manual promote")
    except RegistryError as exc:
        fail(str(exc))
    typer.echo(f"{alias}: {previous} -> {number}")


@models_app.command("compare")
def models_compare(
    live: Annotated[bool, typer.Option("--live", help="production against staging on live traffic")] = False,
    since: Annotated[str | None, typer.Option(help="from this date (default: when staging was set)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Production against staging on the prediction log's shadow pairs: per model n, label shares,
    mean confidence, estimated and (on labelled pairs) realized accuracy; agreement with an interval."""
    from sentiops.monitoring.live import compare_live, comparison_lines

    if not live:
        fail("only --live comparisons exist: sentiops models compare --live", ExitCode.USAGE)
    found = compare_live(load_settings(), _since(since)).as_dict()
    summary(as_json, found, "\n".join(comparison_lines(found)))


def _since(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        fail(f"--since {value!r} is not a date (YYYY-MM-DD)", ExitCode.USAGE)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


@models_app.command("rollback")
def models_rollback(alias: Annotated[str, typer.Option()] = "production") -> None:
    """Restore the version the alias had before its latest change, in one step."""
    from sentiops.registry import RegistryError

    registry = open_registry(load_settings())
    try:
        current = registry.aliases().get(alias)
        target = registry.rollback(alias)
    except RegistryError as exc:
        fail(str(exc))
    typer.echo(f"{alias}: {current} -> {target}")
