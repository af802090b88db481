"""Exit codes shared by every command, so Jobs and scripts can tell failures apart."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # done (or nothing to do)
    ERROR = 1  # unexpected failure
    USAGE = 2  # bad input, no model, no data, or busy: nothing was changed
    TOO_MANY_REJECTS = 3  # results kept, but the reject share is over the limit
    MONITORING_FAILED = 4  # results kept, but the drift check or its alert failed (a retry redoes it)
    BUSY = 5  # another run of the same work holds its lock; nothing was changed
