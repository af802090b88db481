"""`sentiops labellers add | remove | list | agreement | reinstate`: the labeller accounts file an
operator manages, and how far each labeller agrees with the others (data/agreement.py).

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


@labellers_app.command("agreement")
def agreement() -> None:
    """Each labeller's agreement with the others (Cohen's kappa on shared items, with n) and
    whether their labels count as trusted."""
    from sentiops.labelling.standing import standings

    settings = load_settings()
    accounts = _account_names(settings.labellers_file)
    rows = standings(settings.data, settings.label_min_overlaps, accounts)
    if not rows:
        typer.echo("no labeller has labelled anything yet")
    for row in rows:
        counts = "counts" if row.counts else f"does not count (kappa under {settings.label_min_kappa})"
        typer.echo(f"{row.name}: {row.agreement}; {counts}{' (reinstated)' if row.reinstated else ''}")


@labellers_app.command("reinstate")
def reinstate(name: str) -> None:
    """Count a labeller's labels as trusted again after their agreement fell under the threshold
    (an operator's call; it holds until as many new overlaps again are still under it)."""
    from sentiops.data.agreement import agreements, ratings
    from sentiops.data.agreement import reinstate as record
    from sentiops.data.feedback_reader import all_labels

    settings = load_settings()
    by_text = ratings(all_labels(settings.data))
    known = _account_names(settings.labellers_file) | {p for who in by_text.values() for p in who if p}
    try:
        record(settings.data, name, known, agreements(by_text, settings.label_min_overlaps))
    except KeyError as exc:
        fail(str(exc.args[0]), ExitCode.USAGE)
    typer.echo(f"labeller {name} reinstated: their labels count as trusted again")


def _account_names(file: Path | None) -> set[str]:
    from sentiops.serving.access import read_accounts

    return set(read_accounts(file)) if file is not None and file.is_file() else set()
