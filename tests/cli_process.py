"""`hrob` run as a user runs it: a separate process, output captured, off a terminal."""

from __future__ import annotations

import os
import subprocess
import sys

HROB = [sys.executable, "-m", "ml.cli.main"]


def hrob(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*HROB, *args], capture_output=True, text=True, env={**os.environ, "COLUMNS": "", **(env or {})}, check=False
    )
