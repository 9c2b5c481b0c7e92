"""Concurrent writes without Spark: Delta's conflict retries (the adapter Databricks runs)
and the local lock's settings."""

from __future__ import annotations

import pytest

from ml.data.store import DELTA_WRITE_ATTEMPTS, is_write_conflict, retry_conflicts
from ml.data.table_lock import lock_timeout
from ml.errors import ConfigError, DataError


class ConcurrentAppendException(Exception):
    """Named as delta.exceptions names it (PySpark re-raises it under this name)."""


def test_a_lost_conflict_is_retried_with_backoff_then_succeeds():
    attempts, pauses = [], []

    def write():
        attempts.append(1)
        if len(attempts) < 3:
            raise ConcurrentAppendException("Files were added to partition [scoring_date=2026-12-02]")
        return "written"

    assert retry_conflicts(write, "c.s.predictions", pause=pauses.append) == "written"
    assert len(attempts) == 3 and pauses == [2.0, 4.0]


def test_conflicts_are_told_by_class_or_by_databricks_error_class():
    assert is_write_conflict(ConcurrentAppendException("x"))
    assert is_write_conflict(RuntimeError("[DELTA_CONCURRENT_DELETE_READ] ConcurrentDeleteReadException: ..."))
    assert is_write_conflict(RuntimeError("[DELTA_METADATA_CHANGED] MetadataChangedException: ..."))
    assert not is_write_conflict(RuntimeError("[TASK_WRITE_FAILED] Task failed while writing rows"))


def test_other_errors_are_not_retried_and_endless_conflicts_end_in_one_line():
    calls = []

    def broken():
        calls.append(1)
        raise ValueError("schema mismatch")

    with pytest.raises(ValueError, match="schema mismatch"):
        retry_conflicts(broken, "c.s.t", pause=lambda _: None)
    assert len(calls) == 1

    def always_loses():
        raise ConcurrentAppendException("again")

    with pytest.raises(DataError, match=rf"table c.s.t: the write lost to concurrent writers {DELTA_WRITE_ATTEMPTS} "):
        retry_conflicts(always_loses, "c.s.t", pause=lambda _: None)


def test_lock_timeout_from_the_environment(monkeypatch):
    monkeypatch.delenv("HROB_TABLE_LOCK_TIMEOUT", raising=False)
    assert lock_timeout() == 1800
    monkeypatch.setenv("HROB_TABLE_LOCK_TIMEOUT", "5")
    assert lock_timeout() == 5
    monkeypatch.setenv("HROB_TABLE_LOCK_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="HROB_TABLE_LOCK_TIMEOUT: 'soon' is not a number of seconds >= 0"):
        lock_timeout()
