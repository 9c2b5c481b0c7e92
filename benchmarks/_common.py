"""Helpers for benchmark scripts: a private HROB_HOME and a local Spark session."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


def private_home(prefix: str) -> Path:
    """Benchmarks never touch .hrob/: they get a temporary HROB_HOME, removed at exit."""
    home = Path(tempfile.mkdtemp(prefix=f"hrob-bench-{prefix}-"))
    os.environ["HROB_HOME"] = str(home)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    import atexit

    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


@contextmanager
def timer():
    started = time.perf_counter()
    result = {"seconds": 0.0}
    yield result
    result["seconds"] = time.perf_counter() - started


def growth(sizes: list[int], seconds: list[float]) -> list[str]:
    """How time grows against size between consecutive runs: 1.0 is linear."""
    out = []
    for (n0, t0), (n1, t1) in zip(
        zip(sizes, seconds, strict=True), zip(sizes[1:], seconds[1:], strict=True), strict=False
    ):
        out.append(
            f"{n0:,} -> {n1:,}: size x{n1 / n0:.0f}, time x{t1 / t0:.1f}, "
            f"growth factor {(t1 / t0) / (n1 / n0):.2f} (1.00 = linear)"
        )
    return out
