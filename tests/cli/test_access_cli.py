"""Credentials from the command line: labeller accounts an operator manages, and a server that
will not listen beyond the loopback without every role's credential."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sentiops.cli import app
from sentiops.config import get_settings
from sentiops.serving.access import LabellerAccounts, read_accounts


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("SENTIOPS_HOME", str(tmp_path / "home"))
    for name in ("SENTIOPS_API_TOKEN", "SENTIOPS_ADMIN_TOKEN", "SENTIOPS_LABELLERS_FILE"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin)


def test_labeller_accounts_hold_argon2_hashes_never_passwords(env, tmp_path):
    file = tmp_path / "labellers"
    made = run("labellers", "add", "ada", "--file", str(file))
    assert made.exit_code == 0, made.output
    password = made.output.split("password (shown once): ")[1].strip()
    chosen = run("labellers", "add", "bob", "--file", str(file), "--password-stdin", stdin="bobs-long-password\n")
    assert chosen.exit_code == 0 and "shown once" not in chosen.output
    text = file.read_text()
    assert password not in text and "bobs-long-password" not in text
    assert all(h.startswith("$argon2id$") for h in read_accounts(file).values())
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    accounts = LabellerAccounts(file, check_seconds=0)
    assert accounts.verify("ada", password) and accounts.verify("bob", "bobs-long-password")
    assert not accounts.verify("ada", "bobs-long-password") and not accounts.verify("eve", password)
    assert run("labellers", "list", "--file", str(file)).output.split() == ["ada", "bob"]
    assert run("labellers", "remove", "ada", "--file", str(file)).exit_code == 0
    assert not accounts.verify("ada", password)  # re-read: removed means signed out for good
    short = run("labellers", "add", "cy", "--file", str(file), "--password-stdin", stdin="short\n")
    assert short.exit_code == 2 and "12 characters" in short.output
    bad = run("labellers", "add", "no:colons", "--file", str(file))
    assert bad.exit_code == 2 and "labeller name" in bad.output


@pytest.mark.parametrize("command", ["serve", "dashboard"])
def test_a_server_beyond_the_loopback_needs_every_roles_credential(env, tmp_path, command):
    refused = run(command, "--host", "0.0.0.0")
    assert refused.exit_code == 2
    for variable in ("SENTIOPS_API_TOKEN", "SENTIOPS_ADMIN_TOKEN", "SENTIOPS_LABELLERS_FILE"):
        assert variable in refused.output
    env.setenv("SENTIOPS_API_TOKEN", "an-api-token-long-enough")
    env.setenv("SENTIOPS_ADMIN_TOKEN", "an-operator-token-long-enough")
    get_settings.cache_clear()
    still = run(command, "--host", "0.0.0.0")
    assert (
        still.exit_code == 2 and "SENTIOPS_LABELLERS_FILE" in still.output and "SENTIOPS_API_TOKEN" not in still.output
    )
