"""`hrob` run as a user runs it, output captured, off a terminal: in a separate process
(`hrob`), or in this one (`run_cli`: the session's Spark, for commands that need it)."""

from __future__ import annotations

import os
import subprocess
import sys

HROB = [sys.executable, "-m", "ml.cli.main"]


def hrob(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*HROB, *args], capture_output=True, text=True, env={**os.environ, "COLUMNS": "", **(env or {})}, check=False
    )


def run_cli(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """`hrob ARGS` through its entry point in this process: (exit status, stdout, stderr)."""
    from ml.cli.main import main

    monkeypatch.setattr(sys, "argv", ["hrob", *args])
    code = 0
    try:
        main()
    except SystemExit as done:
        code = done.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def free_port() -> int:
    """A port nobody listens on (at the moment of asking)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, seconds: int = 120) -> None:
    """Until `url` answers; the server's output as the failure when it exits first."""
    import time
    import urllib.request

    for _ in range(seconds):
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            assert server.poll() is None, server.stdout.read() if server.stdout else server.returncode
            time.sleep(1)
    raise AssertionError(f"{url} did not answer within {seconds}s")
