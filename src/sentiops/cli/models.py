"""`sentiops models list|show|promote|rollback`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from sentiops.cli.common import fail, load_settings, open_registry

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


@models_app.command("promote")
def models_promote(
    version: str,
    alias: Annotated[str, typer.Option(help="production or staging")] = "production",
) -> None:
    """Point an alias at a version (after verifying its checksums)."""
    from sentiops.registry import RegistryError

    registry = open_registry(load_settings())
    try:
        registry.verify(version)
        previous = registry.set_alias(alias, version, reason="manual promote")
    except RegistryError as exc:
        fail(str(exc))
    typer.echo(f"{alias}: {previous} -> {version}")


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
