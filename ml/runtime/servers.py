"""MLflow's servers run from this project: the tracking UI over the local SQLite store and
the scoring server of a registered model, in the foreground, stopped as one.

- The UI runs one worker: several processes writing one SQLite file answer a share of
  requests with INTERNAL_ERROR (measured: about one `runs/search` in four with four).
- MLflow starts uvicorn by name, so the interpreter's own bin folder goes first on PATH
  (.venv/bin is on no PATH by default).
- MLflow's CLI starts the server as a child: stopping the CLI's process alone leaves the
  child serving. The server runs in a session of its own and a stop (Ctrl-C, SIGTERM, the
  end of this process) stops the whole session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def mlflow_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlflow", *args]


def ui_args(tracking_uri: str, port: int, host: str = "127.0.0.1") -> list[str]:
    return mlflow_command(
        "ui", "--backend-store-uri", tracking_uri, "--host", host, "--port", str(port), "--workers", "1"
    )


def serve_args(model_uri: str, port: int, host: str = "127.0.0.1") -> list[str]:
    # --env-manager local: this environment is the model's (its requirements are this lock's pins)
    return mlflow_command("models", "serve", "-m", model_uri, "--env-manager", "local", "-h", host, "-p", str(port))


def server_environment(tracking_uri: str, registry_uri: str) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_REGISTRY_URI": registry_uri,
    }


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    """The server in a session of its own, so its children can be stopped with it."""
    return subprocess.Popen(command, env=env, start_new_session=True)


def stop(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM to the server's whole session, SIGKILL after `grace` seconds."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with contextlib.suppress(ProcessLookupError):  # a child that outlived its parent
        os.killpg(process.pid, signal.SIGKILL)


def run_foreground(command: list[str], env: dict[str, str], grace: int = 10) -> None:
    """Run a server until it exits or this process is told to stop; then stop all of it and
    end this process with the server's status. It ends at once (os._exit): libraries loaded
    here (MLflow's telemetry) keep threads an ordinary exit would wait for."""
    process = start(command, env)
    told: list[int] = []

    def on_stop(signum, _frame):
        # only signal here: waiting for the child belongs to the main thread's wait below
        told.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        signal.alarm(grace)  # then SIGKILL, should it linger

    def on_alarm(_signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    signal.signal(signal.SIGALRM, on_alarm)
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, on_stop)
    code = process.wait()
    stop(process, grace)  # children that outlived it
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(128 + told[0] if told else code)
