"""The synthesized Terraform JSON of every stack: what each environment deploys."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from ml.config.loader import load_settings
from ml.jobs.catalogue import JOBS
from ml.runtime.paths import REPO_ROOT

ENVS = ("dev", "staging", "prod")


def resources(stack: dict, kind: str) -> list[dict]:
    """Resources of one type, without the '//' metadata cdktn adds."""
    return [{k: v for k, v in item.items() if k != "//"} for item in stack.get("resource", {}).get(kind, {}).values()]


def jobs_by_name(stack: dict) -> dict[str, dict]:
    return {job["name"]: job for job in resources(stack, "databricks_job")}


def test_one_stack_per_deployed_environment(synthesized):
    assert set(synthesized) == set(ENVS)


@pytest.mark.parametrize(("env", "branch"), [("dev", "dev"), ("staging", "main"), ("prod", "release")])
def test_jobs_pull_code_from_the_environment_branch(synthesized, env, branch):
    jobs = resources(synthesized[env], "databricks_job")
    assert len(jobs) == len(JOBS)
    for job in jobs:
        source = job["git_source"]
        assert source["branch"] == branch
        assert source["provider"] == "azureDevOpsServices"
        assert source["url"] == load_settings(env).project.platform.git_repository
        assert all(task["spark_python_task"]["source"] == "GIT" for task in job["task"])


def test_every_job_task_dependency_and_parameter_matches_the_catalogue(synthesized):
    for env, stack in synthesized.items():
        jobs = jobs_by_name(stack)
        for name, spec in JOBS.items():
            job = jobs[f"[{env}] hrob {name}"]
            tasks = {task["task_key"]: task for task in job["task"]}
            assert list(tasks) == [t.key for t in spec.tasks]
            for task in spec.tasks:
                deployed = tasks[task.key]
                assert deployed["spark_python_task"]["python_file"] == task.entry_point
                assert deployed["spark_python_task"]["parameters"] == task.arguments(env)
                assert f"--env={env}" in deployed["spark_python_task"]["parameters"]
                assert [d["task_key"] for d in deployed.get("depends_on", [])] == list(task.depends_on)
                assert deployed["job_cluster_key"] == job["job_cluster"][0]["job_cluster_key"]
                assert deployed["timeout_seconds"] > 0 and "max_retries" in deployed
            assert {p["name"]: p["default"] for p in job.get("parameter", [])} == spec.parameters
            assert job["max_concurrent_runs"] == 1
            assert job["email_notifications"]["on_failure"]
            assert job["timeout_seconds"] > 0


def test_training_runs_train_validate_promote_in_order(synthesized):
    job = jobs_by_name(synthesized["prod"])["[prod] hrob training"]
    order = {t["task_key"]: [d["task_key"] for d in t.get("depends_on", [])] for t in job["task"]}
    assert order == {"train": [], "validate": ["train"], "promote": ["validate"]}
    validate = next(t for t in job["task"] if t["task_key"] == "validate")
    assert "--model-version={{tasks.train.values.model_version}}" in validate["spark_python_task"]["parameters"]


def test_every_entry_point_exists(synthesized):
    for stack in synthesized.values():
        for job in resources(stack, "databricks_job"):
            for task in job["task"]:
                assert (REPO_ROOT / task["spark_python_task"]["python_file"]).is_file()


def test_job_clusters_run_the_configured_runtime(synthesized):
    runtime = load_settings("prod").project.runtime
    for stack in synthesized.values():
        (chosen,) = [
            {k: v for k, v in d.items() if k != "//"} for d in stack["data"]["databricks_spark_version"].values()
        ]
        assert chosen == {
            "long_term_support": True,
            "ml": True,
            "spark_version": runtime.spark,
            "scala": runtime.scala,
            "latest": True,
        }
        for job in resources(stack, "databricks_job"):
            for cluster in job["job_cluster"]:
                assert cluster["new_cluster"]["spark_version"] == "${data.databricks_spark_version.runtime.id}"


def test_task_libraries_are_exact_pins_from_the_lock_of_what_the_runtime_lacks(synthesized):
    from ml.runtime import parity

    runtime = load_settings("prod").project.runtime
    expected = parity.cluster_libraries(runtime.provides, parity.locked_versions(), parity.dependencies())
    locked = parity.locked_versions()
    for stack in synthesized.values():
        for job in resources(stack, "databricks_job"):
            for task in job["task"]:
                packages = [lib["pypi"]["package"] for lib in task["library"]]
                assert packages == expected
                for package in packages:
                    name, version = package.split("==")
                    assert locked[name] == version
                assert not {p.split("==")[0] for p in packages} & parity.provided(runtime.provides)


@pytest.mark.parametrize(
    ("env", "job", "cron", "paused"),
    [
        ("prod", "inference", "0 0 11 * * ?", "UNPAUSED"),
        ("prod", "features", "0 0 6 * * ?", "UNPAUSED"),
        ("prod", "training", "0 0 8 ? * MON", "UNPAUSED"),
        ("staging", "inference", "0 0 11 * * ?", "UNPAUSED"),
        ("dev", "inference", "0 0 11 * * ?", "PAUSED"),
        ("dev", "training", "0 0 8 ? * MON", "PAUSED"),
    ],
)
def test_schedules_and_timezones(synthesized, env, job, cron, paused):
    schedule = jobs_by_name(synthesized[env])[f"[{env}] hrob {job}"]["schedule"]
    assert schedule == {"quartz_cron_expression": cron, "timezone_id": "UTC", "pause_status": paused}


def test_dev_schedules_are_all_paused(synthesized):
    for job in resources(synthesized["dev"], "databricks_job"):
        assert job["schedule"]["pause_status"] == "PAUSED"


def service_principal_id(env: str) -> str:
    return load_settings(env).environment.deployment.service_principal.application_id


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_jobs_run_as_the_environment_service_principal(synthesized, env):
    sp = service_principal_id(env)
    principals = resources(synthesized[env], "databricks_service_principal")
    assert [(p["application_id"], p["display_name"]) for p in principals] == [(sp, f"{env}-sp")]
    assert principals[0]["allow_cluster_create"] is False and principals[0]["workspace_access"] is True
    for job in resources(synthesized[env], "databricks_job"):
        assert job["run_as"] == {"service_principal_name": sp}
    rule_set = resources(synthesized[env], "databricks_access_control_rule_set")[0]
    assert rule_set["name"].endswith(f"/servicePrincipals/{sp}/ruleSets/default")
    assert "roles/servicePrincipal.user" in {rule["role"] for rule in rule_set["grant_rules"]}


def test_dev_jobs_run_as_the_developer(synthesized):
    assert not resources(synthesized["dev"], "databricks_service_principal")
    for job in resources(synthesized["dev"], "databricks_job"):
        assert "run_as" not in job


def test_each_principal_appears_only_in_its_own_environment(synthesized):
    staging, prod = service_principal_id("staging"), service_principal_id("prod")
    assert staging not in json.dumps(synthesized["prod"])
    assert prod not in json.dumps(synthesized["staging"])
    assert staging not in json.dumps(synthesized["dev"]) and prod not in json.dumps(synthesized["dev"])


@pytest.mark.parametrize(("env", "level"), [("dev", "CAN_MANAGE"), ("staging", "CAN_VIEW"), ("prod", "CAN_VIEW")])
def test_job_permissions_least_privilege(synthesized, env, level):
    group = load_settings(env).project.platform.data_science_group
    permissions = [p for p in resources(synthesized[env], "databricks_permissions") if "job_id" in p]
    assert len(permissions) == len(JOBS)
    for permission in permissions:
        controls = {
            (c.get("group_name") or c.get("service_principal_name")): c["permission_level"]
            for c in permission["access_control"]
        }
        expected = {group: level}
        if env != "dev":
            expected[service_principal_id(env)] = "CAN_MANAGE"
        assert controls == expected


@pytest.mark.parametrize(
    ("env", "experiment", "model"),
    [
        ("dev", "CAN_MANAGE", ["ALL_PRIVILEGES"]),
        ("staging", "CAN_READ", ["EXECUTE"]),
        ("prod", "CAN_READ", ["EXECUTE"]),
    ],
)
def test_experiment_model_and_schema_per_environment(synthesized, env, experiment, model):
    settings = load_settings(env)
    stack = synthesized[env]
    group = settings.project.platform.data_science_group
    (exp,) = resources(stack, "databricks_mlflow_experiment")
    assert exp["name"] == settings.environment.experiment_path
    (exp_permissions,) = [p for p in resources(stack, "databricks_permissions") if "experiment_id" in p]
    levels = {
        (c.get("group_name") or c.get("service_principal_name")): c["permission_level"]
        for c in exp_permissions["access_control"]
    }
    assert levels[group] == experiment
    (registered,) = resources(stack, "databricks_registered_model")
    assert f"{registered['catalog_name']}.{registered['schema_name']}.{registered['name']}" == settings.model_name
    (schema,) = resources(stack, "databricks_schema")
    assert (schema["catalog_name"], schema["name"]) == (settings.environment.catalog, settings.environment.db_schema)
    grants = {g.get("model") or g.get("schema"): g["grant"] for g in resources(stack, "databricks_grants")}
    assert grants[settings.model_name] == [{"principal": group, "privileges": model}]
    if env != "dev":
        assert registered["owner"] == schema["owner"] == service_principal_id(env)
        sources = [g for g in resources(stack, "databricks_grant") if g.get("schema")]
        assert sources == [
            {
                "principal": service_principal_id(env),
                "privileges": ["USE_SCHEMA", "SELECT"],
                "schema": settings.environment.source_schema,
            }
        ]


def test_state_keys_are_distinct_and_remote(synthesized):
    keys = []
    for env, stack in synthesized.items():
        backend = stack["terraform"]["backend"]["azurerm"]
        assert backend["use_azuread_auth"] is True
        assert backend["key"] == f"hrob/{env}.tfstate"
        keys.append(backend["key"])
    assert len(set(keys)) == len(keys)


def _lifecycle_protected(stack: dict) -> set[str]:
    return {
        kind
        for kind, items in stack["resource"].items()
        for item in items.values()
        if item.get("lifecycle", {}).get("prevent_destroy")
    }


def test_prod_data_and_model_carry_prevent_destroy(synthesized):
    protected = _lifecycle_protected(synthesized["prod"])
    assert {
        "databricks_registered_model",
        "databricks_mlflow_experiment",
        "databricks_schema",
        "azurerm_storage_account",
        "azurerm_key_vault",
    } <= protected
    assert not _lifecycle_protected(synthesized["staging"])
    assert not _lifecycle_protected(synthesized["dev"])


SECRET_PATTERNS = [
    re.compile(r"dapi[0-9a-f]{32}"),  # Databricks personal access token
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"AccountKey=", re.I),
    re.compile(r"SharedAccessSignature|sig=[A-Za-z0-9%]{20,}", re.I),
    re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),  # a JWT
]
SECRET_KEYS = {
    "client_secret",
    "token",
    "password",
    "access_key",
    "sas_token",
    "azure_client_secret",
    "client_certificate_password",
    "primary_access_key",
}


def _walk(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    else:
        yield path, value


def test_no_secrets_anywhere(synthesized):
    for env, stack in synthesized.items():
        for path, value in _walk(stack):
            key = path.rsplit(".", 1)[-1]
            assert key not in SECRET_KEYS, f"{env}: {path}"
            if isinstance(value, str):
                for pattern in SECRET_PATTERNS:
                    assert not pattern.search(value), f"{env}: {path} looks like a secret"


def test_providers_take_credentials_from_the_environment(synthesized):
    for stack in synthesized.values():
        (databricks,) = stack["provider"]["databricks"]
        assert set(databricks) == {"host", "azure_workspace_resource_id"}
        (azurerm,) = stack["provider"]["azurerm"]
        assert set(azurerm) <= {"features", "storage_use_azuread"}


def test_outputs(synthesized):
    for stack in synthesized.values():
        assert {f"{name}_job_id" for name in JOBS} | {"experiment_id", "model_name"} <= set(stack["output"])


def test_cdktf_json_runs_the_same_app():
    config = json.loads((REPO_ROOT / "cdktf.json").read_text())
    assert config["language"] == "python"
    assert shlex.split(config["app"])[1:] == ["-m", "infra.app"]
    package = json.loads((REPO_ROOT / "package.json").read_text())
    assert package["devDependencies"]["cdktn-cli"] == "0.24.0"
