"""Whether third-party progress and chatter is shown: `hrob --verbose` (or HROB_VERBOSE=1).

An environment variable, so the job tasks the local runner starts as processes, and the
Spark workers they start, see the same choice.
"""

from __future__ import annotations

import os

VARIABLE = "HROB_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VARIABLE, "").lower() not in ("", "0", "false", "no")


def set_verbose(on: bool) -> None:
    if on:
        os.environ[VARIABLE] = "1"
