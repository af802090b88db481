"""`sentiops labellers add | remove | list`: the labeller accounts file an operator manages.

The file holds `name:<argon2id hash>` lines (never a password); on Kubernetes it is the
`sentiops-labellers` Secret, mounted where SENTIOPS_LABELLERS_FILE points.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer

from sentiops.cli.common import fail, load_settings
from sentiops.exit_codes import ExitCode

labellers_app = typer.Typer(help="Labeller accounts (named, with hashed passwords) for the Label page.")

FileOption = Annotated[
    Path | None, typer.Option("--file", help="The accounts file (default: SENTIOPS_LABELLERS_FILE).")
]


def _file(file: Path | None) -> Path:
    found = file or load_settings().labellers_file
    if found is None:
        fail("no accounts file: pass --file or set SENTIOPS_LABELLERS_FILE", ExitCode.USAGE)
    return found


@labellers_app.command("add")
def add(
    name: str,
    file: FileOption = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a labeller (or give one a new password, which ends their sessions). Without
    --password-stdin a random password is made and printed once: hand it to the labeller."""
    from sentiops.serving.access import AccountError, write_account

    target = _file(file)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(18)
    try:
        write_account(target, name, password)
    except AccountError as exc:
        fail(str(exc), ExitCode.USAGE)
    typer.echo(f"labeller {name} written to {target}")
    if not password_stdin:
        typer.echo(f"password (shown once): {password}")


@labellers_app.command("remove")
def remove(name: str, file: FileOption = None) -> None:
    """Remove a labeller: their sessions end and they can no longer sign in."""
    from sentiops.serving.access import AccountError, remove_account

    target = _file(file)
    try:
        remove_account(target, name)
    except AccountError as exc:
        fail(str(exc), ExitCode.USAGE)
    typer.echo(f"labeller {name} removed from {target}")


@labellers_app.command("list")
def list_accounts(file: FileOption = None) -> None:
    """The labellers' names."""
    from sentiops.serving.access import read_accounts

    target = _file(file)
    if not target.is_file():
        fail(f"{target} does not exist", ExitCode.USAGE)
    for name in read_accounts(target):
        typer.echo(name)
