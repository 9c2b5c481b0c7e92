"""Filesystem locations: the repository, the configuration directory and local state.

Resolved from the environment on every call, so tests and subprocesses can point
them elsewhere with HROB_HOME and HROB_CONFIG_DIR.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def config_dir(override: str | Path | None = None) -> Path:
    """`--config-dir` if given, else HROB_CONFIG_DIR, else configs/ at the repository root."""
    chosen = override or os.environ.get("HROB_CONFIG_DIR")
    return Path(chosen).expanduser().resolve() if chosen else REPO_ROOT / "configs"


def hrob_home() -> Path:
    """Root of all local state (tables, MLflow store, logs): HROB_HOME or .hrob/."""
    chosen = os.environ.get("HROB_HOME")
    home = Path(chosen).expanduser().resolve() if chosen else REPO_ROOT / ".hrob"
    _usable(home, "HROB_HOME" if chosen else "local state folder")
    return home


def local_dir(*parts: str) -> Path:
    """A directory under HROB_HOME, created on first use."""
    path = hrob_home().joinpath(*parts)
    _usable(path, "local state folder")
    return path


def _usable(path: Path, what: str) -> None:
    """Created if missing, and writable: else one line (a file in the way, a read-only disk)."""
    from ml.errors import ConfigError

    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{what} {path}: a file, not a folder (point HROB_HOME at a folder)") from None
    except OSError as error:
        raise ConfigError(f"{what} {path}: cannot be created ({error.strerror.lower()})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {path}: not writable (point HROB_HOME at a folder you can write)")
