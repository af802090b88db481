"""`sentiops serve`."""

from __future__ import annotations

from typing import Annotated

import typer

from sentiops.cli.common import load_settings


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "0.0.0.0",
    port: int = 8000,
) -> None:
    """Run the prediction API (FastAPI + uvicorn) on the production model, with hot reload."""
    import uvicorn

    from sentiops.serving.app import create_app

    settings = load_settings(json_logs=True)
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


def dashboard(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: int = 8080,
) -> None:
    """Serve the dashboard (versions, drift, retraining decisions) over the registry and results
    folders, without loading a model: for people who only want to look."""
    import uvicorn

    from sentiops.serving.app import create_dashboard_app

    settings = load_settings()
    typer.echo(f"dashboard: http://{host}:{port}/ui")
    uvicorn.run(create_dashboard_app(settings), host=host, port=port, access_log=False, log_config=None)
