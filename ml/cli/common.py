"""Options and output shared by every `hrob` command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

ConfigDirOption = Annotated[
    Path | None,
    typer.Option(
        "--config-dir",
        envvar="HROB_CONFIG_DIR",
        help="Configuration directory (default: configs/ at the repository root).",
        show_default=False,
    ),
]

EnvOption = Annotated[
    str,
    typer.Option("--env", "-e", envvar="HROB_ENV", help="Environment whose settings apply."),
]


def use_config_dir(config_dir: Path | None) -> None:
    """Make the choice visible to everything downstream, subprocesses included."""
    if config_dir is not None:
        os.environ["HROB_CONFIG_DIR"] = str(config_dir.expanduser().resolve())
