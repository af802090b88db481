"""`sentiops serve`."""

from __future__ import annotations

from typing import Annotated

import typer

from sentiops.cli.common import fail, load_settings
from sentiops.config import Settings
from sentiops.exit_codes import ExitCode

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


HostOption = Annotated[
    str,
    typer.Option(
        help="Interface to bind. Any but the loopback needs every role's credential (API token, "
        "operator token, labeller accounts)."
    ),
]


def _settings_for(host: str, json_logs: bool | None = None) -> Settings:
    from sentiops.serving.access import missing_credentials

    settings = load_settings(json_logs=json_logs)
    missing = missing_credentials(settings)
    if host not in LOOPBACK and missing:
        fail(
            f"refusing to serve on {host} without credentials: set {', '.join(missing)}; or bind to "
            "127.0.0.1 (the default) for a local, open service",
            ExitCode.USAGE,
        )
    return settings


def serve(host: HostOption = "127.0.0.1", port: int = 8000) -> None:
    """Run the prediction API (FastAPI + uvicorn) on the production model, with hot reload."""
    import uvicorn

    from sentiops.serving.app import create_app

    settings = _settings_for(host, json_logs=True)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=int(settings.keep_alive_seconds),
        h11_max_incomplete_event_size=64 * 1024,  # request line and headers: a slow client holds no more
    )


def dashboard(host: HostOption = "127.0.0.1", port: int = 8080) -> None:
    """Serve the dashboard (versions, drift, retraining decisions) over the registry and results
    folders, without loading a model: for people who only want to look."""
    import uvicorn

    from sentiops.serving.app import create_dashboard_app

    settings = _settings_for(host)
    typer.echo(f"dashboard: http://{host}:{port}/ui")
    uvicorn.run(create_dashboard_app(settings), host=host, port=port, access_log=False, log_config=None)
