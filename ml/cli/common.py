"""Options and output shared by every `hrob` command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def terminal_width(stream: int) -> int | None:
    """Off a terminal (CI logs, pipes) rich would cut tables at 80 columns: use COLUMNS
    when set, else a width wide enough that nothing is truncated."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    return None if os.isatty(stream) else 200


console = Console(highlight=False, width=terminal_width(1))
err_console = Console(stderr=True, highlight=False, width=terminal_width(2))

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


JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout (messages go to stderr).")]


def use_config_dir(config_dir: Path | None) -> None:
    """Make the choice visible to everything downstream, subprocesses included."""
    if config_dir is not None:
        os.environ["HROB_CONFIG_DIR"] = str(config_dir.expanduser().resolve())
