"""Credentials for tests of the three roles: an API token, an operator token, two labellers."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from sentiops.config import Settings
from sentiops.serving.access import write_account

API_TOKEN = "api-token-for-the-tests-0123"
ADMIN_TOKEN = "operator-token-for-the-tests-4567"
PASSWORDS = {"ada": "ada-password-for-tests", "bob": "bob-password-for-tests"}
CALLER = {"authorization": f"Bearer {API_TOKEN}"}
OPERATOR = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def secured(settings: Settings, folder: Path) -> Settings:
    """``settings`` with every role's credential (the accounts file written under ``folder``)."""
    file = folder / "labellers"
    if not file.is_file():
        for name, password in PASSWORDS.items():
            write_account(file, name, password)
    return settings.model_copy(
        update={"api_token": SecretStr(API_TOKEN), "admin_token": SecretStr(ADMIN_TOKEN), "labellers_file": file}
    )


def sign_in(client, name: str, password: str | None = None):
    """Sign in on /ui/login as a labeller (``name``) or, with name "", as the operator."""
    secret = password if password is not None else PASSWORDS.get(name, ADMIN_TOKEN)
    return client.post("/ui/login", data={"name": name, "password": secret}, follow_redirects=False)
