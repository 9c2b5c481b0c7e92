"""CLI conventions: a version, one-line errors printed literally, output not cut off a terminal."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import yaml

from ml.config.yaml_files import read_yaml
from tests.cli_process import hrob


def test_version():
    result = hrob("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"hrob {version('hrob-mlops')}"


def test_a_missing_or_empty_configuration_directory_is_one_line(tmp_path: Path):
    missing = hrob("config", "check", "--config-dir", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert (
        missing.stderr.strip()
        == f"error: {tmp_path / 'nope'}: no such configuration directory (--config-dir or HROB_CONFIG_DIR)"
    )
    (tmp_path / "environments").mkdir()
    empty = hrob("config", "check", "--config-dir", str(tmp_path))
    assert empty.returncode == 2 and empty.stderr.strip().endswith("environments: no environment files (<env>.yml)")


def test_errors_keep_their_square_brackets(config_copy: Path):
    path = config_copy / "environments" / "prod.yml"
    data = read_yaml(path)
    data["deployment"]["jobs"]["features"]["schedule"]["quartz_cron"] = "0 0 6 * * ? 2026 1"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = hrob("config", "check", "--config-dir", str(config_copy))
    assert result.returncode == 2
    assert "(sec min hour day-of-month month day-of-week [year])" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_tables_are_not_truncated_off_a_terminal():
    result = hrob("config", "check")  # stdout is a pipe here, as in CI logs
    assert result.returncode == 0
    assert "local.hrob.hrob_risk" in result.stdout and "…" not in result.stdout


def test_the_mlflow_ui_printed_serves_the_sqlite_store_and_stops_as_one(tmp_path):
    """`hrob ui` (what the demo prints, beside this interpreter: nothing is on PATH in a
    fresh clone) answers every run search on the SQLite store, and a SIGTERM to it leaves
    no server behind."""
    import json
    import os
    import signal
    import socket
    import subprocess
    import sys
    import urllib.request

    from ml.runtime.tracking import local_store
    from tests.cli_process import HROB, free_port, wait_until_up

    hrob = Path(sys.executable).with_name("hrob")
    assert local_store().ui_command() == f"{hrob} ui"
    port = free_port()
    home = {**os.environ, "HROB_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    server = subprocess.Popen([*HROB, "ui", "--port", str(port)], env=home, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", server)
        body = json.dumps({"experiment_ids": ["0"], "max_results": 10}).encode()
        statuses = []
        for _ in range(8):
            ask = urllib.request.Request(f"{url}/ajax-api/2.0/mlflow/runs/search", body,
                                         {"Content-Type": "application/json"})  # fmt: skip
            with urllib.request.urlopen(ask, timeout=30) as answer:
                statuses.append(answer.status)
        assert statuses == [200] * 8
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    with socket.socket() as after:
        assert after.connect_ex(("127.0.0.1", port)) != 0, "nothing listens once it is stopped"
