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


@app.command("acknowledge")
def acknowledge(
    check: Annotated[str, typer.Option(help="The crossed check, e.g. feature_psi.")],
    reason: Annotated[str, typer.Option(help="Why it need not start training (recorded).")],
    slice_: Annotated[
        str | None,
        typer.Option("--slice", help="One slice, e.g. feature=enrollment__days_enrolled__12m (default: every slice)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD it holds to (default: while this champion serves).")
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who acknowledges (default: the signed-in user).")] = None,
    env: EnvOption = "local",
    as_json: JsonOption = False,
    config_dir: ConfigDirOption = None,
) -> None:
    """Record that a drift was looked at: it no longer starts the training job (for this champion)."""
    import getpass

    from ml.config.loader import load_settings
    from ml.data.store import table_store
    from ml.errors import DataError
    from ml.jobs.entry import parse_date
    from ml.monitoring.job import DRIFT_CHECKS
    from ml.monitoring.retraining import acknowledge as record
    from ml.registry import client as registry
    from ml.runtime.spark import get_spark
    from ml.runtime.tracking import configure_mlflow

    use_config_dir(config_dir)
    settings = load_settings(env, config_dir)
    configure_mlflow()
    champion = registry.by_alias(settings.model_name, registry.CHAMPION)
    if champion is None:
        raise DataError(f"model {settings.model_name} has no champion: nothing to acknowledge")
    spark = get_spark("hrob-acknowledge")
    result = record(
        spark,
        table_store(spark, settings.namespace),
        str(champion.version),
        check,
        slice_,
        by or getpass.getuser(),
        reason,
        parse_date(until, "--until") if until else None,
        DRIFT_CHECKS,
    )
    if as_json:
        print(json.dumps(result, indent=1))
        return
    console.print(
        f"acknowledged {check} ({slice_ or 'every slice'}) for champion v{champion.version}"
        f"{f' until {until}' if until else ''}: it no longer starts the training job",
        markup=False,
        soft_wrap=True,
    )
