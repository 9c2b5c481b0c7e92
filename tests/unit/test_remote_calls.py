"""A registry that cannot be reached is said to be so, in one line, after the configured
wait, and nothing acts on its silence: against local stand-ins of a server that accepts
and never answers, and a port nobody listens on."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
)

from ml.errors import ConfigError
from ml.registry import client as registry
from ml.runtime import remote
from tests.cli_process import free_port, hrob


@pytest.fixture
def silent_server():
    """Accepts connections, records each request line, answers nothing."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    requests: list[str] = []
    held = []

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            held.append(connection)
            data = connection.recv(65536).decode(errors="replace")
            requests.append(data.splitlines()[0] if data else "")

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", requests
    server.close()
    for connection in held:
        connection.close()


def test_a_rollback_against_a_silent_registry_fails_in_one_line_and_changes_nothing(silent_server, tmp_path):
    url, requests = silent_server
    started = time.monotonic()
    done = hrob(
        "model", "rollback", "--env", "local", "--reason", "PPV fell", "--registry-uri", url,
        env={"HROB_REMOTE_TIMEOUT": "2", "HROB_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: the model registry {url} is unreachable (read timed out, 2s per request)")
    assert "local.hrob.hrob_risk@champion" in line and "HROB_REMOTE_TIMEOUT" in line
    sent = [r for r in requests if r]  # the first connection is the probe's, which sends nothing
    assert sent and all(r.startswith("GET ") for r in sent), "nothing but reads reached it"
    assert took < 60, f"{took:.0f}s: the bound did not hold (MLflow alone retries for about two minutes)"


def test_a_port_nobody_listens_on_is_unreachable_not_an_empty_registry(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    done = hrob(
        "model", "report", "--env", "local", "--registry-uri", url, "--json",
        env={"HROB_REMOTE_TIMEOUT": "2", "HROB_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (
        f"error: the model registry {url} is unreachable (connection refused, 2s per request): check the network "
        "and the Azure CLI session (az login); HROB_REMOTE_TIMEOUT sets the wait"
    )


def test_not_found_is_none_and_a_refusal_is_an_error(monkeypatch):
    def raising(error):
        def action():
            raise error

        return action

    missing = MlflowException("Registered model alias champion not found.", error_code=INVALID_PARAMETER_VALUE)
    assert registry.read(raising(missing), "m@champion", None) is None
    gone = MlflowException("Registered Model with name=m not found", error_code=RESOURCE_DOES_NOT_EXIST)
    assert registry.read(raising(gone), "m", []) == []
    denied = MlflowException("User does not have EXECUTE on model m\n  details", error_code=PERMISSION_DENIED)
    with pytest.raises(
        registry.ModelError, match=r"refused reading m@champion: User does not have EXECUTE on model m$"
    ):
        registry.read(raising(denied), "m@champion", None)


def test_the_wait_is_configured_in_seconds_and_bounds_both_clients():
    environ = {"HROB_REMOTE_TIMEOUT": "7"}
    assert remote.bound_remote_calls(environ) == 7
    assert environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == environ["DATABRICKS_RETRY_TIMEOUT_SECONDS"] == "7"
    assert environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
    assert remote.timeout({}) == remote.DEFAULT_TIMEOUT
    for bad, why in (("soon", "is not a number of seconds"), ("0", "is outside 1-600 seconds")):
        with pytest.raises(ConfigError, match=rf"^HROB_REMOTE_TIMEOUT: .*{why}$"):
            remote.timeout({"HROB_REMOTE_TIMEOUT": bad})


def test_the_probe_names_a_host_that_does_not_resolve_and_steps_aside_behind_a_proxy():
    with pytest.raises(remote.Unreachable, match=r"^the workspace https://adb-0.invalid is unreachable \(name or"):
        remote.probe("https://adb-0.invalid", "the workspace", 2, environ={})
    remote.probe("https://adb-0.invalid", "the workspace", 2, environ={"HTTPS_PROXY": "http://proxy:3128"})


def test_what_counts_as_no_answer():
    assert remote.unreachable(ConnectionRefusedError(111, "Connection refused")) == "connection refused"
    wrapped = MlflowException(
        "API request to https://adb-1.azuredatabricks.net/api/2.0/x failed with exception "
        "HTTPSConnectionPool(host='adb-1.azuredatabricks.net', port=443): Max retries exceeded "
        "(Caused by NameResolutionError(\"Failed to resolve 'adb-1.azuredatabricks.net' ([Errno -2] Name or "
        'service not known)"))',
        error_code=INTERNAL_ERROR,
    )
    assert remote.unreachable(wrapped) == "name or service not known"
    assert remote.unreachable(MlflowException("Permission denied", error_code=PERMISSION_DENIED)) is None
