"""What every command shares: settings with logging set up, the registry, and failing clearly."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer

from sentiops import logs
from sentiops.config import BackendSetting, Settings, get_settings
from sentiops.data.labels import SCHEMES, Scheme
from sentiops.exit_codes import ExitCode
from sentiops.registry import Registry


def load_settings(json_logs: bool | None = None) -> Settings:
    settings = get_settings()
    logs.configure(json_logs=settings.log_json if json_logs is None else json_logs, level=settings.log_level)
    return settings


def open_registry(settings: Settings) -> Registry:
    return Registry(settings.registry)


def fail(message: str, code: ExitCode = ExitCode.ERROR) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(int(code))


LabelSchemeOption = Annotated[
    str | None,
    typer.Option(
        help="Label scheme of the input: sentiment140 (0/2/4), binary (0/1), three-class (0/1/2 with 1 "
        "neutral) or words. Default: read from each file's labels; 0/1/2 files must name it."
    ),
]


def label_scheme(value: str | None) -> Scheme | None:
    if value is None:
        return None
    if value not in SCHEMES:
        fail(f"unknown label scheme {value!r}; expected one of {', '.join(SCHEMES)}", ExitCode.USAGE)
    return value


def utc_today(offset_days: int = 0) -> str:
    """Dates are UTC everywhere: a date partition means the same day in every pod and zone."""
    import datetime as dt

    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=offset_days)).isoformat()


def write_failed(exc: OSError) -> NoReturn:
    """A write failed (a full disk, a read-only volume): every write here is atomic, so say so."""
    where = f" ({exc.filename})" if exc.filename else ""
    fail(f"could not write: {exc.strerror or exc}{where}; what was published before is untouched", ExitCode.ERROR)


def parse_backend(value: str | None) -> BackendSetting | None:
    from typing import get_args

    if value is None:
        return None
    if value not in get_args(BackendSetting):
        fail(f"unknown backend {value!r}; expected one of {', '.join(get_args(BackendSetting))}", ExitCode.USAGE)
    return value  # type: ignore[return-value]  # checked against the Literal's values above
