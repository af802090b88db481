"""A served model on a copy of the prepared volume (tests/helpers/feedback.py)."""

from __future__ import annotations

from tests.helpers.feedback import cli_env, client, data, settings  # noqa: F401
