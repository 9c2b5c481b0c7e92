"""CLI conventions: a version, one-line errors printed literally, output not cut off a terminal."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import yaml

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
    data = yaml.safe_load(path.read_text())
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


def test_the_mlflow_ui_command_printed_runs_as_pasted():
    """`mlflow` is not on PATH in a fresh clone; the one beside this interpreter is."""
    import sys

    from ml.runtime.tracking import local_store

    mlflow = Path(sys.executable).with_name("mlflow")
    assert mlflow.exists()
    assert local_store().ui_command().startswith(f"{mlflow} ui --backend-store-uri sqlite:///")
