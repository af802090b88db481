"""Running `sentiops` commands as their own processes, as a CronJob or an operator would."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.data import REPO


def start_batch_run(env: dict, *args: str) -> subprocess.Popen:
    """`sentiops batch run ARGS` in a new process; stdout and stderr together, as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "sentiops.cli", "batch", "run", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
