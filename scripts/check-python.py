"""Stop with one line when the interpreter that would build .venv is not one the project supports."""

import sys

SUPPORTED = ((3, 11), (3, 12))  # this machine's and the Databricks runtime's (pyproject.toml requires-python)

if sys.version_info[:2] not in SUPPORTED:
    found = ".".join(map(str, sys.version_info[:3]))
    sys.exit(
        f"error: Python 3.11 or 3.12 is required to build .venv (found {found}); "
        "install python3.11 or run make PYTHON=/path/to/python3.11"
    )
