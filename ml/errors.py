"""Errors a user can act on. Their message is one line naming what is wrong and where.

Entry points print these without a traceback and exit with status 2; anything else
is a bug and keeps its traceback, except the few library errors a user can act on,
which `user_error` turns into one line.
"""

import re


class HrobError(Exception):
    """A user-facing error whose message is a single line."""

    exit_code = 2


class ConfigError(HrobError):
    """A configuration file is missing, malformed or inconsistent."""


class DataError(HrobError):
    """Input data is missing, malformed or violates an expectation."""


class ModelError(HrobError):
    """A model, alias or registry state needed by a task is missing or unusable."""


# Spark's error classes (with subclass, or the family) for what a user can fix, with the fix.
_SPARK_USER_ERRORS = {
    "FAILED_READ_FILE.PARQUET_COLUMN_DATA_TYPE_MISMATCH": "the file does not match its table's declared types: "
    "rerun the job that writes the table",
    "FAILED_READ_FILE.FILE_NOT_EXIST": "a table's files were removed while it was read: run the job again",
    "FAILED_READ_FILE": "a table's file cannot be read: rerun the job that writes the table",
    "PATH_NOT_FOUND": "a table's files were removed while it was read: run the job again",
    "TASK_WRITE_FAILED": "check that the table's folder is writable and the disk not full",
}
_SPARK_ERROR = re.compile(r"\[(?P<cls>(?P<family>[A-Z_]+)(?:\.[A-Z_]+)?)\] (?P<text>[^\n]*?)(?: SQLSTATE: \w+)?$", re.M)


def user_error(error: BaseException) -> HrobError | None:
    """A library error a user can act on (a Spark job failed on a file, say) as one line;
    None for the rest, which are bugs."""
    if isinstance(error, HrobError):
        return error
    for match in _SPARK_ERROR.finditer(str(error)):
        fix = _SPARK_USER_ERRORS.get(match["cls"]) or _SPARK_USER_ERRORS.get(match["family"])
        if fix:
            return DataError(f"{match['text'].strip()} [{match['cls']}] ({fix})")
    return None
