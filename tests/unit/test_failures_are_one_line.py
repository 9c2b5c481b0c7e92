"""User-facing failures outside configuration are one line with exit status 2: an unusable
HROB_HOME, and library errors a user can act on. MLflow's state stays under HROB_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml.errors import ConfigError, DataError, user_error
from ml.runtime.paths import hrob_home
from tests.cli_process import hrob

SPARK_READ_FAILURE = (
    "An error occurred while calling o97.collectToPython.\n"
    ": org.apache.spark.SparkException: [FAILED_READ_FILE.PARQUET_COLUMN_DATA_TYPE_MISMATCH] Encountered error "
    "while reading file file:///h/warehouse/t/v1/part-0.parquet. Data type mismatches when reading Parquet column "
    "[x]. Expected Spark type double, actual Parquet type BINARY. SQLSTATE: KD001\n"
    "\tat org.apache.spark.sql.errors.QueryExecutionErrors$.failedToReadDataError(QueryExecutionErrors.scala:877)"
)


def test_hrob_home_that_is_a_file_is_one_line_from_the_cli(tmp_path: Path):
    blocked = tmp_path / "home"
    blocked.write_text("a file")
    done = hrob("model", "report", "--env", "local", env={"HROB_HOME": str(blocked)})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"error: HROB_HOME {blocked}: a file, not a folder (point HROB_HOME at a folder)"


def test_hrob_home_under_a_file_or_unwritable(tmp_path: Path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("HROB_HOME", str(tmp_path / "file" / "home"))
    with pytest.raises(ConfigError, match=r"HROB_HOME .*/file/home: cannot be created \(not a directory\)"):
        hrob_home()
    if os.geteuid() != 0:  # root writes anywhere: the cases above stand in
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        monkeypatch.setenv("HROB_HOME", str(locked))
        with pytest.raises(ConfigError, match="not writable"):
            hrob_home()


def test_spark_errors_a_user_can_fix_become_one_line_with_the_fix():
    error = user_error(Exception(SPARK_READ_FAILURE))
    assert isinstance(error, DataError)
    assert str(error) == (
        "Encountered error while reading file file:///h/warehouse/t/v1/part-0.parquet. Data type mismatches when "
        "reading Parquet column [x]. Expected Spark type double, actual Parquet type BINARY. "
        "[FAILED_READ_FILE.PARQUET_COLUMN_DATA_TYPE_MISMATCH] (the file does not match its table's declared types: "
        "rerun the job that writes the table)"
    )
    assert user_error(ValueError("a bug")) is None, "bugs keep their traceback"
    assert user_error(Exception("[INTERNAL_ERROR] planner failed SQLSTATE: XX000")) is None


def test_mlflow_state_is_under_hrob_home_whatever_the_working_folder(tmp_path: Path):
    """A fresh store's Default experiment (id 0) would point at ./mlruns of the working folder."""
    code = (
        "import mlflow\n"
        "from ml.runtime.tracking import configure_mlflow\n"
        "configure_mlflow()\n"
        "print(mlflow.get_experiment('0').artifact_location)\n"
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "HROB_HOME": str(tmp_path / "home"), "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=work)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (tmp_path / "home" / "mlflow" / "artifacts" / "0").as_uri()
    assert "alembic" not in done.stderr, "schema migration chatter stays quiet"
    assert not (work / "mlruns").exists()
