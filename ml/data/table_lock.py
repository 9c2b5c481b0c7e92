"""One writer per local table at a time.

A local write reads the live version (to carry untouched partitions over), stages a new
one and swaps the pointer. Two writers doing that at once would both start from the same
version and the second swap would drop the first one's rows, so each write holds an
exclusive lock on its table from staging to commit. The lock is an advisory `flock` on a
file inside the table's folder: the kernel releases it when its holder dies, so a killed
job never leaves a table locked. Delta tables on Databricks need none of this (Delta
detects conflicting commits; ml/data/store.py retries them).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ml.errors import ConfigError, DataError

LOCK_FILE = "_lock"
TIMEOUT_VARIABLE = "HROB_TABLE_LOCK_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 1800.0  # a feature backfill holds its table for minutes
_POLL_SECONDS = 0.2


def lock_timeout() -> float:
    text = os.environ.get(TIMEOUT_VARIABLE, "")
    if not text:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise ConfigError(f"{TIMEOUT_VARIABLE}: '{text}' is not a number of seconds >= 0")
    return seconds


@contextmanager
def table_lock(table_dir: Path, name: str, timeout: float | None = None) -> Iterator[None]:
    """Hold `table_dir`'s write lock, waiting up to `timeout` seconds for another writer."""
    timeout = lock_timeout() if timeout is None else timeout
    path = table_dir / LOCK_FILE
    try:
        table_dir.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 - closed by the with below
    except OSError as error:
        raise DataError(f"table {name}: cannot write to {table_dir} ({error.strerror.lower()})") from None
    with handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = path.read_text().strip() or "another process"
                    raise DataError(
                        f"table {name} is being written by {holder}; gave up after {timeout:.0f}s "
                        f"(wait for it to finish, or raise {TIMEOUT_VARIABLE})"
                    ) from None
                time.sleep(_POLL_SECONDS)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
            handle.flush()
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def table_locks(table_dirs: dict[str, Path], timeout: float | None = None) -> Iterator[None]:
    """Several tables' locks, always taken in name order so two writers cannot deadlock."""
    with ExitStack() as stack:
        for name in sorted(table_dirs):
            stack.enter_context(table_lock(table_dirs[name], name, timeout))
        yield
