"""What every command shares: settings with logging set up, the registry, and failing clearly."""

from __future__ import annotations

from typing import NoReturn

import typer

from sentiops import logs
from sentiops.config import Settings, get_settings
from sentiops.exit_codes import ExitCode
from sentiops.registry import Registry


def load_settings(json_logs: bool | None = None) -> Settings:
    settings = get_settings()
    logs.configure(json_logs=settings.log_json if json_logs is None else json_logs)
    return settings


def open_registry(settings: Settings) -> Registry:
    return Registry(settings.registry)


def fail(message: str, code: ExitCode = ExitCode.ERROR) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(int(code))
