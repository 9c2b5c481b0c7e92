"""Shared fixtures. One local Spark session serves the whole test run; all local state
goes to a temporary HROB_HOME so tests never touch .hrob/."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs"

# Set before any test imports ml: every path is resolved from these.
_HOME = Path(tempfile.mkdtemp(prefix="hrob-test-home-"))
os.environ["HROB_HOME"] = str(_HOME)
os.environ.pop("HROB_CONFIG_DIR", None)
os.environ.setdefault("HROB_SPARK_MASTER", "local[2]")
os.environ.setdefault("HROB_SPARK_SHUFFLE_PARTITIONS", "4")
os.environ.setdefault("HROB_SPARK_DRIVER_MEMORY", "4g")
os.environ["PYSPARK_PYTHON"] = sys.executable


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def hrob_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def spark():
    from ml.runtime.spark import get_spark

    session = get_spark("hrob-tests")
    yield session
    session.stop()


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    """A writable copy of configs/ for tests that break it on purpose."""
    target = tmp_path / "configs"
    shutil.copytree(CONFIGS, target)
    return target
