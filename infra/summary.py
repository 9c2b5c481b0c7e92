"""What an environment's two stacks deploy, read from their synthesized JSON: the jobs and
what starts them, who they run as, the model and who may read it, the grants, and the
Azure resources. `hrob infra summary --env ENV` (`make summary ENV=...`) prints it; nothing
is contacted, so it answers before any credential exists.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REFERENCE = re.compile(r"\$\{data\.databricks_service_principal\.([\w-]+)\.application_id\}")


def _principals(stack: dict, names: dict[str, str]) -> dict[str, str]:
    """Data-source reference -> display name ("staging-sp (run-as)")."""
    found = {}
    for logical, source in stack.get("data", {}).get("databricks_service_principal", {}).items():
        role = next((r for r in ("deployer", "run_as", "planner") if f"_{r}_" in f"_{logical}_"), "principal")
        who = names.get(source.get("application_id", ""), source.get("application_id"))
        found[logical] = f"{who} ({role.replace('_', '-')})"
    return found


RESOURCE = re.compile(r"\$\{(data\.)?(\w+)\.([\w-]+)\.\w+\}")


def _who(value: Any, principals: dict[str, str], named: dict[str, str] | None = None) -> str:
    """A reference as what it names: a principal's display name and role, a resource's name."""
    text = str(value)
    match = REFERENCE.fullmatch(text)
    if match:
        return principals.get(match.group(1), text)
    other = RESOURCE.fullmatch(text)
    if other and other.group(2) == "databricks_current_user":
        return "whoever applies the bootstrap"
    if other and named:
        return named.get(f"{other.group(2)}.{other.group(3)}", text)
    return text


def _names(stack: dict) -> dict[str, str]:
    """`<type>.<logical id>` -> the name people know it by (models, schemas)."""
    found = {}
    for kind, items in stack.get("resource", {}).items():
        for logical, item in items.items():
            parts = [item.get(k) for k in ("catalog_name", "schema_name", "name") if item.get(k)]
            if parts:
                found[f"{kind}.{logical}"] = ".".join(parts)
    return found


def _resources(stack: dict, kind: str) -> list[dict]:
    return [{k: v for k, v in item.items() if k != "//"} for item in stack.get("resource", {}).get(kind, {}).values()]


def _start(job: dict) -> str:
    if "schedule" in job:
        schedule = job["schedule"]
        paused = " (paused)" if schedule.get("pause_status") == "PAUSED" else ""
        return f"cron {schedule['quartz_cron_expression']} {schedule['timezone_id']}{paused}"
    if "trigger" in job:
        trigger = job["trigger"]
        tables = ", ".join(trigger["table_update"]["table_names"])
        paused = " (paused)" if trigger.get("pause_status") == "PAUSED" else ""
        return f"on update of {tables}{paused}"
    return "started by a person (or another job)"


def summarize(app: dict, bootstrap: dict | None, names: dict[str, str]) -> dict[str, Any]:
    """The parts people ask about, from the synthesized stacks."""
    principals = _principals(app, names) | (_principals(bootstrap, names) if bootstrap else {})
    named = _names(app) | (_names(bootstrap) if bootstrap else {})
    jobs = [
        {
            "name": job["name"],
            "starts": _start(job),
            "runs_as": _who((job.get("run_as") or {}).get("service_principal_name", "the deploying user"), principals),
            "tasks": [t["task_key"] for t in job.get("task", [])],
            "timeout_seconds": job.get("timeout_seconds"),
        }
        for job in _resources(app, "databricks_job")
    ]
    grants = [
        {
            "on": _who(g.get("schema") or g.get("model") or g.get("catalog") or "-", principals, named),
            "principal": _who(grant["principal"], principals),
            "privileges": grant["privileges"],
        }
        for g in _resources(app, "databricks_grants")
        for grant in g["grant"]
    ]
    models = [
        {"name": f"{m['catalog_name']}.{m['schema_name']}.{m['name']}", "owner": _who(m.get("owner"), principals)}
        for m in _resources(app, "databricks_registered_model")
    ]
    out: dict[str, Any] = {
        "jobs": jobs,
        "experiments": [e["name"] for e in _resources(app, "databricks_mlflow_experiment")],
        "models": models,
        "grants": grants,
        "monitors": [m["table_name"] for m in _resources(app, "databricks_quality_monitor")],
        "resources": _counts(app),
    }
    if bootstrap is not None:
        out["bootstrap"] = {
            "schemas": [
                {"name": f"{s['catalog_name']}.{s['name']}", "owner": _who(s.get("owner"), principals)}
                for s in _resources(bootstrap, "databricks_schema")
            ],
            "grants": [
                {
                    "on": _who(g.get("catalog") or g.get("schema") or "-", principals, named),
                    "principal": _who(g["principal"], principals),
                    "privileges": g["privileges"],
                }
                for g in _resources(bootstrap, "databricks_grant")
            ],
            "trigger_tables": [t["name"] for t in _resources(bootstrap, "databricks_sql_table")],
            "azure": sorted(
                f"{kind.removeprefix('azurerm_')}: {item.get('name') or item.get('role_definition_name', '-')}"
                for kind in bootstrap.get("resource", {})
                if kind.startswith("azurerm_")
                for item in _resources(bootstrap, kind)
            ),
            "resources": _counts(bootstrap),
        }
    return out


def _counts(stack: dict) -> dict[str, int]:
    return {kind: len(items) for kind, items in sorted(stack.get("resource", {}).items())}


def read(stacks: Path, env: str) -> tuple[dict, dict | None]:
    app = json.loads((stacks / env / "cdk.tf.json").read_text())
    boot = stacks / f"{env}-bootstrap" / "cdk.tf.json"
    return app, json.loads(boot.read_text()) if boot.exists() else None


def lines(env: str, summary: dict[str, Any]) -> list[str]:
    """The summary as text, one fact a line."""
    out = [f"{env}: what CI deploys (application stack `{env}`)"]
    for job in summary["jobs"]:
        out.append(
            f"  job {job['name']}: {job['starts']}; runs as {job['runs_as']}; tasks {', '.join(job['tasks'])}; "
            f"timeout {job['timeout_seconds']:,}s"
        )
    for model in summary["models"]:
        out.append(f"  model {model['name']}, owned by {model['owner']}")
    out += [f"  experiment {name}" for name in summary["experiments"]]
    out += [f"  monitor on {name}" for name in summary["monitors"]]
    out += [f"  grant {', '.join(g['privileges'])} on {g['on']} to {g['principal']}" for g in summary["grants"]]
    boot = summary.get("bootstrap")
    if boot:
        out.append(f"{env}-bootstrap: what the platform team applies once")
        out += [f"  schema {s['name']}, owned by {s['owner']}" for s in boot["schemas"]]
        out += [f"  grant {', '.join(g['privileges'])} on {g['on']} to {g['principal']}" for g in boot["grants"]]
        out += [f"  trigger table {name}" for name in boot["trigger_tables"]]
        out += [f"  {item}" for item in boot["azure"]]
    return out
