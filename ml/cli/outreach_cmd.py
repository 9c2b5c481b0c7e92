"""`hrob outreach export --env ENV --date D`: the care managers' list as CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ml.cli.common import ConfigDirOption, EnvOption, JsonOption, console, use_config_dir

app = typer.Typer(no_args_is_help=True, help="The care managers' outreach list.")


@app.command("export")
def export(
    scoring_date: Annotated[str, typer.Option("--date", help="Scoring date, YYYY-MM-DD (default: today).")] = "",
    output: Annotated[
        Path | None, typer.Option(help="CSV file to write (default: HROB_HOME/exports/outreach_<env>_<date>.csv).")
    ] = None,
    env: EnvOption = "local",
    as_json: JsonOption = False,
    config_dir: ConfigDirOption = None,
) -> None:
    """Write one scoring date's outreach list as CSV: ranked members first, then those already known (detections)."""
    from ml.config.loader import load_settings
    from ml.inference.export import default_path, export_outreach
    from ml.jobs.entry import parse_date

    use_config_dir(config_dir)
    settings = load_settings(env, config_dir)
    day = parse_date(scoring_date, "--date")
    result = export_outreach(settings, day, output or default_path(settings, day))
    if as_json:
        print(json.dumps(result, indent=1))
        return
    console.print(
        f"wrote {result['rows']:,} rows ({result['ranked']:,} ranked, {result['already_known']:,} already "
        f"known) to {result['path']}",
        markup=False,
        soft_wrap=True,
    )
    if result.get("what_the_list_finds"):
        console.print(result["what_the_list_finds"], markup=False, soft_wrap=True)
