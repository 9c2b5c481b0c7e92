"""`hrob doctor` and `hrob demo`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from ml.cli.common import ConfigDirOption, EnvOption, JsonOption, console, use_config_dir


def doctor(env: EnvOption = "local", as_json: JsonOption = False, config_dir: ConfigDirOption = None) -> None:
    """Check the configuration, start local Spark and MLflow, and report each."""
    from ml.runtime.selfcheck import run_checks

    use_config_dir(config_dir)
    if as_json:
        checks = run_checks(env, config_dir)
        print(json.dumps([{"part": c.part, "detail": c.detail, "seconds": round(c.seconds, 1)} for c in checks]))
        return
    table = Table(title="Local runtime", title_justify="left")
    for column in ("part", "status", "seconds"):
        table.add_column(column)
    with console.status("starting local Spark and MLflow ..."):
        checks = run_checks(env, config_dir)
    for check in checks:
        table.add_row(check.part, check.detail, f"{check.seconds:.1f}")
    console.print(table)


def ui(
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1).")] = 5000,
    config_dir: ConfigDirOption = None,
) -> None:
    """MLflow's UI over this machine's tracking and registry store, until Ctrl-C (which
    stops all of it)."""
    from ml.runtime.servers import run_foreground, server_environment, ui_args
    from ml.runtime.tracking import local_store

    use_config_dir(config_dir)
    store = local_store()
    console.print(f"MLflow UI of {store.tracking_uri} on http://127.0.0.1:{port} (Ctrl-C stops it)", markup=False)
    run_foreground(ui_args(store.tracking_uri, port), server_environment(store.tracking_uri, store.registry_uri))


def demo(
    members: Annotated[int | None, typer.Option(help="Generate a fresh cohort of this many members.")] = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Cohort, features, training (train, validate, promote) and inference for the dev stack, run
    through the local runner; prints a summary and writes HROB_HOME/demo_summary.json."""
    from ml.runner.demo import run_demo

    use_config_dir(config_dir)
    doctor(env="dev", as_json=False, config_dir=config_dir)
    run_demo(members)
