"""`hrob config`: validate and show the configuration."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from ml.cli.common import ConfigDirOption, JsonOption, console, use_config_dir

app = typer.Typer(no_args_is_help=True, help="Validate and show the configuration.")


@app.command("check")
def check(
    env: Annotated[
        str | None,
        typer.Option("--env", "-e", help="Check one environment (default: all of them)."),
    ] = None,
    as_json: JsonOption = False,
    config_dir: ConfigDirOption = None,
) -> None:
    """Validate every configuration file; one line per problem, exit status 2 on the first."""
    from ml.config.loader import environments, load_settings, placeholders

    use_config_dir(config_dir)
    names = [env] if env else environments(config_dir)
    records = []
    for name in names:
        settings = load_settings(name, config_dir)
        deployment = settings.environment.deployment
        runs_as = (
            None
            if deployment is None
            else (deployment.service_principal.display_name if deployment.service_principal else "developer")
        )
        records.append(
            {
                "environment": name,
                "model": settings.model_name,
                "tables": settings.namespace,
                "deployed_from": deployment.branch if deployment else None,
                "runs_as": runs_as,
                # what a deploy of this environment still needs replaced (tagged !site)
                "site_placeholders": placeholders(name, config_dir) if deployment is not None else {},
            }
        )
    features = settings.features
    counts = {
        "features": len(features.mappings.group_of()),
        "groups": len(features.mappings.groups),
        "selected": len(features.selected()),
    }
    if as_json:
        print(json.dumps({"status": "ok", "environments": records, **counts}, indent=1))
        return
    table = Table(title="Configuration", title_justify="left")
    for column in ("environment", "model", "tables", "deployed from", "runs as"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r["environment"], r["model"], r["tables"], r["deployed_from"] or "working tree", r["runs_as"] or "-"
        )
    console.print(table)
    console.print(
        f"[green]ok[/green] {len(names)} environment(s); "
        f"{counts['features']} features in {counts['groups']} groups, {counts['selected']} selected"
    )
    for r in records:
        found = r["site_placeholders"]
        if found and r["deployed_from"] in ("main", "release"):
            listed = "; ".join(f"{path}: {', '.join(keys)}" for path, keys in found.items())
            console.print(
                f"[yellow]note[/yellow] {r['environment']}: {sum(len(k) for k in found.values())} example value(s) "
                f"to replace before its first deploy (tagged !site): {listed}",
                soft_wrap=True,
                highlight=False,
            )


@app.command("show")
def show(
    env: Annotated[str, typer.Option("--env", "-e", help="Environment to show.")] = "local",
    config_dir: ConfigDirOption = None,
) -> None:
    """Print the merged settings of one environment as JSON."""
    from ml.config.loader import load_settings

    use_config_dir(config_dir)
    settings = load_settings(env, config_dir)
    merged = {
        "env": settings.env,
        "model_name": settings.model_name,
        "project": settings.project.model_dump(mode="json"),
        "environment": settings.environment.model_dump(mode="json", by_alias=True),
    }
    console.print_json(json.dumps(merged))
