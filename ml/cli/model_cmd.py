"""`hrob model report --env ENV`: the registered model's newest version and its promotion
decision (`--json`, or a model card with `--html`); `hrob model serve --env ENV`: MLflow's
scoring server for the champion; `hrob model rollback --env ENV --reason TEXT`: the
champion back to the one it replaced."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from ml.cli.common import ConfigDirOption, EnvOption, JsonOption, console, use_config_dir
from ml.errors import ModelError

app = typer.Typer(no_args_is_help=True, help="The registered model of an environment.")

RegistryOption = Annotated[
    str | None,
    typer.Option(
        help="Registry to use: databricks-uc (the workspace's Unity Catalog, as CI uses it) or an MLflow "
        "server's http(s) URL (default: this machine's). Each request waits HROB_REMOTE_TIMEOUT seconds (20)."
    ),
]


def _registry(env: str, registry_uri: str | None, config_dir: Path | None):
    """The environment's settings, with MLflow pointed at its registry."""
    import mlflow

    from ml.config.loader import load_settings
    from ml.runtime.remote import bound_remote_calls, probe
    from ml.runtime.tracking import configure_mlflow

    use_config_dir(config_dir)
    settings = load_settings(env, config_dir)
    configure_mlflow()
    if registry_uri:
        bound_remote_calls()
        if registry_uri.startswith("databricks"):
            # The workspace of configs/project.yml unless DATABRICKS_HOST names another; the
            # credentials are the Azure CLI session's (DATABRICKS_AUTH_TYPE=azure-cli in CI).
            os.environ.setdefault("DATABRICKS_HOST", settings.project.platform.workspace_host)
            probe(os.environ["DATABRICKS_HOST"], "the workspace of the model registry")
            mlflow.set_tracking_uri("databricks")
        else:
            probe(registry_uri, "the model registry")
            mlflow.set_tracking_uri(registry_uri)
        mlflow.set_registry_uri(registry_uri)
    return settings


@app.command("report")
def report(
    env: EnvOption = "local",
    html: Annotated[
        bool, typer.Option("--html", help="Also write the model card (HTML) of the champion or --version.")
    ] = False,
    version: Annotated[str | None, typer.Option(help="Version for the model card (default: the champion).")] = None,
    output: Annotated[
        Path | None, typer.Option(help="Where to write the model card (default: HROB_HOME/reports/).")
    ] = None,
    registry_uri: RegistryOption = None,
    as_json: JsonOption = False,
    config_dir: ConfigDirOption = None,
) -> None:
    """Print the newest version, the champion and the validation decision."""
    from ml.registry import model_card
    from ml.registry.report import model_report

    settings = _registry(env, registry_uri, config_dir)
    result = model_report(settings.model_name)
    if html:
        path, card = model_card.write(
            settings,
            output
            or model_card.default_path(settings, version or result["champion_version"] or result["newest_version"]),
            version,
        )
        result["model_card"] = str(path)
        result["model_card_version"] = card["version"]
    if as_json:
        print(json.dumps(result, indent=1))
        return
    console.print(
        f"{result['model']}: newest v{result['newest_version']} ({result['decision']}); "
        f"champion {'v' + result['champion_version'] if result['champion_version'] else '(none)'}",
        markup=False,
    )
    if html:
        console.print(
            f"model card of v{result['model_card_version']}: {result['model_card']}", markup=False, soft_wrap=True
        )


@app.command("serve")
def serve(
    env: EnvOption = "local",
    version: Annotated[str | None, typer.Option(help="Version to serve (default: the champion).")] = None,
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1).")] = 5001,
    config_dir: ConfigDirOption = None,
) -> None:
    """MLflow's scoring server for the champion (or --version) of this machine's registry:
    POST feature rows to /invocations, risk scores come back. Ctrl-C stops it."""
    from ml.registry import client as registry
    from ml.runtime.servers import run_foreground, serve_args, server_environment
    from ml.runtime.tracking import local_store

    settings = _registry(env, None, config_dir)
    found = registry.version(settings.model_name, version) if version else None
    if version and found is None:
        raise ModelError(f"model {settings.model_name} has no version {version}")
    if not version and registry.by_alias(settings.model_name, registry.CHAMPION) is None:
        raise ModelError(
            f"model {settings.model_name} has no champion: run training first (hrob run training --env {env})"
        )
    uri = f"models:/{settings.model_name}/{version}" if version else f"models:/{settings.model_name}@champion"
    store = local_store()
    console.print(f"serving {uri} on http://127.0.0.1:{port}/invocations (Ctrl-C stops it)", markup=False)
    run_foreground(serve_args(uri, port), server_environment(store.tracking_uri, store.registry_uri))


@app.command("rollback")
def rollback(
    reason: Annotated[str, typer.Option(help="Why: recorded on both versions with who and when.")],
    env: EnvOption = "local",
    registry_uri: RegistryOption = None,
    as_json: JsonOption = False,
    config_dir: ConfigDirOption = None,
) -> None:
    """Move `champion` back to `previous_champion` (one promotion back, once)."""
    from ml.registry.rollback import rollback as roll_back

    settings = _registry(env, registry_uri, config_dir)
    result = roll_back(settings.model_name, reason)
    if as_json:
        print(json.dumps(result, indent=1))
        return
    console.print(
        f"{result['model']}: champion v{result['champion_version']} again "
        f"(v{result['rolled_back_version']} rolled back by {result['by']} at {result['at']})",
        markup=False,
    )
