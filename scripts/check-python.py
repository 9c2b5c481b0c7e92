"""Stop with one line when the interpreter that would build .venv is too old."""

import sys

if sys.version_info < (3, 11):
    found = ".".join(map(str, sys.version_info[:3]))
    sys.exit(
        f"error: Python 3.11+ is required to build .venv (found {found}); "
        "install python3.11 or run make PYTHON=/path/to/python3.11"
    )
