"""A served model with traffic in its prediction log (tests/helpers/feedback.py), and a browser."""

from __future__ import annotations

from tests.helpers.browser import browser  # noqa: F401
from tests.helpers.data import sample_rows
from tests.helpers.feedback import cli_env, client, data, settings  # noqa: F401

TWEETS = [text for _, text in sample_rows(7000)[6600:6800]]
