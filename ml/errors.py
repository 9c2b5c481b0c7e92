"""Errors a user can act on. Their message is one line naming what is wrong and where.

Entry points print these without a traceback and exit with status 2; anything else
is a bug and keeps its traceback.
"""


class HrobError(Exception):
    """A user-facing error whose message is a single line."""

    exit_code = 2


class ConfigError(HrobError):
    """A configuration file is missing, malformed or inconsistent."""


class DataError(HrobError):
    """Input data is missing, malformed or violates an expectation."""


class ModelError(HrobError):
    """A model, alias or registry state needed by a task is missing or unusable."""
