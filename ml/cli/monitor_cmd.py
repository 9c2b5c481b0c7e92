"""`hrob monitor report --env ENV`: the monitoring table over time, as PNG and HTML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ml.cli.common import ConfigDirOption, EnvOption, JsonOption, console, use_config_dir

app = typer.Typer(no_args_is_help=True, help="Drift and realised performance of the champion.")


@app.command("report")
def report(
    output_dir: Annotated[
        Path | None, typer.Option(help="Folder for the PNG and HTML (default: HROB_HOME/reports/).")
    ] = None,
    env: EnvOption = "local",
    as_json: JsonOption = False,
    config_dir: ConfigDirOption = None,
) -> None:
    """Draw drift, volume and realised performance over time (the monitoring job writes them)."""
    from ml.config.loader import load_settings
    from ml.monitoring.report import write

    use_config_dir(config_dir)
    result = write(load_settings(env, config_dir), output_dir)
    if as_json:
        print(json.dumps(result, indent=1))
        return
    console.print(
        f"{result['dates']} monitoring date(s) to {result['newest']}, {result['crossed']} threshold(s) crossed on "
        f"the newest: {result['html']} ({result['png']})",
        markup=False,
        soft_wrap=True,
    )
