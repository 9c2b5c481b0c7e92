"""`hrob model report ENV`: the registered model's newest version and its promotion decision;
`hrob model rollback ENV --reason TEXT`: the champion back to the one it replaced."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from ml.cli.common import console

app = typer.Typer(no_args_is_help=True, help="The registered model of an environment.")


@app.command("report")
def report(
    env: Annotated[str, typer.Argument(help="Environment whose model to report.")],
    registry_uri: Annotated[
        str | None, typer.Option(help="Registry to read (databricks-uc from CI; default: this machine's).")
    ] = None,
) -> None:
    """Print the newest version, the champion and the validation decision."""
    import mlflow

    from ml.config.loader import load_settings
    from ml.registry.report import model_report
    from ml.runtime.tracking import configure_mlflow

    settings = load_settings(env)
    configure_mlflow()
    if registry_uri:
        # The workspace of configs/project.yml unless DATABRICKS_HOST names another; the
        # credentials are the Azure CLI session's (DATABRICKS_AUTH_TYPE=azure-cli in CI).
        os.environ.setdefault("DATABRICKS_HOST", settings.project.platform.workspace_host)
        mlflow.set_tracking_uri("databricks")
        mlflow.set_registry_uri(registry_uri)
    result = model_report(settings.model_name)
    console.print(
        f"{result['model']}: newest v{result['newest_version']} ({result['decision']}); "
        f"champion {'v' + result['champion_version'] if result['champion_version'] else '(none)'}"
    )


@app.command("rollback")
def rollback(
    env: Annotated[str, typer.Argument(help="Environment whose champion to roll back.")],
    reason: Annotated[str, typer.Option(help="Why: recorded on both versions with who and when.")],
    registry_uri: Annotated[
        str | None, typer.Option(help="Registry to change (databricks-uc from CI; default: this machine's).")
    ] = None,
) -> None:
    """Move `champion` back to `previous_champion` (one promotion back, once)."""
    import mlflow

    from ml.config.loader import load_settings
    from ml.registry.rollback import rollback as roll_back
    from ml.runtime.tracking import configure_mlflow

    settings = load_settings(env)
    configure_mlflow()
    if registry_uri:
        os.environ.setdefault("DATABRICKS_HOST", settings.project.platform.workspace_host)
        mlflow.set_tracking_uri("databricks")
        mlflow.set_registry_uri(registry_uri)
    result = roll_back(settings.model_name, reason)
    console.print(
        f"{result['model']}: champion v{result['champion_version']} again "
        f"(v{result['rolled_back_version']} rolled back by {result['by']} at {result['at']})",
        markup=False,
    )
