"""`python -m sentiops.cli` runs the same app as the `sentiops` command."""

from sentiops.cli import app

app()
