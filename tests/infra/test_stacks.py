"""The synthesized Terraform JSON of every stack: what each environment deploys."""

from __future__ import annotations

import json
import os
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


def data_sources(stack: dict, kind: str) -> dict[str, dict]:
    return {
        name: {k: v for k, v in item.items() if k != "//"} for name, item in stack.get("data", {}).get(kind, {}).items()
    }


@pytest.mark.parametrize(("env", "branch"), [("dev", "dev"), ("staging", None), ("prod", None)])
def test_pinned_environments_run_the_deployed_commit_and_dev_follows_its_branch(synthesized, env, branch):
    jobs = resources(synthesized[env], "databricks_job")
    assert len(jobs) == len(JOBS)
    for job in jobs:
        source = job["git_source"]
        if branch:
            assert source["branch"] == branch and "commit" not in source
        else:  # tests/conftest.py sets HROB_GIT_COMMIT, as the deploy pipeline does
            assert source["commit"] == os.environ["HROB_GIT_COMMIT"] and "branch" not in source
        assert source["provider"] == "azureDevOpsServices"
        assert source["url"] == load_settings(env).project.platform.git_repository
        assert all(task["spark_python_task"]["source"] == "GIT" for task in job["task"] if "spark_python_task" in task)


def test_every_job_task_dependency_and_parameter_matches_the_catalogue(synthesized):
    for env, stack in synthesized.items():
        jobs = jobs_by_name(stack)
        for name, spec in JOBS.items():
            job = jobs[f"[{env}] hrob {name}"]
            tasks = {task["task_key"]: task for task in job["task"]}
            assert list(tasks) == [t.key for t in spec.tasks]
            for task in spec.python_tasks:
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


def python_tasks(job: dict) -> list[dict]:
    """The tasks that run on the job cluster (condition and run-job tasks need none)."""
    return [task for task in job["task"] if "spark_python_task" in task]


def test_every_entry_point_exists(synthesized):
    for stack in synthesized.values():
        for job in resources(stack, "databricks_job"):
            for task in python_tasks(job):
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
            for task in python_tasks(job):
                packages = [lib["pypi"]["package"] for lib in task["library"]]
                assert packages == expected
                for package in packages:
                    name, version = package.split("==")
                    assert locked[name] == version
                assert not {p.split("==")[0] for p in packages} & parity.provided(runtime.provides)


@pytest.mark.parametrize(
    ("env", "job", "cron", "paused"),
    [
        ("prod", "features", "0 0 6 * * ?", "UNPAUSED"),
        ("prod", "training", "0 0 8 ? * MON", "UNPAUSED"),
        ("staging", "features", "0 0 6 * * ?", "UNPAUSED"),
        ("dev", "features", "0 0 6 * * ?", "PAUSED"),
        ("dev", "training", "0 0 8 ? * MON", "PAUSED"),
    ],
)
def test_schedules_and_timezones(synthesized, env, job, cron, paused):
    schedule = jobs_by_name(synthesized[env])[f"[{env}] hrob {job}"]["schedule"]
    assert schedule == {"quartz_cron_expression": cron, "timezone_id": "UTC", "pause_status": paused}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
@pytest.mark.parametrize(("job", "table"), [("inference", "member_features"), ("monitoring", "predictions")])
def test_inference_and_monitoring_start_when_their_input_table_is_updated(synthesized, env, job, table):
    deployed = jobs_by_name(synthesized[env])[f"[{env}] hrob {job}"]
    assert "schedule" not in deployed, "a table update starts it, not the clock"
    assert deployed["trigger"] == {
        "pause_status": "PAUSED" if env == "dev" else "UNPAUSED",
        "table_update": {
            "table_names": [f"hrob.{env}.{table}"],
            "condition": "ANY_UPDATED",
            "wait_after_last_change_seconds": 300,
        },
    }


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_monitoring_starts_the_same_environments_training_job_when_a_threshold_is_crossed(synthesized, env):
    stack = synthesized[env]
    jobs = stack["resource"]["databricks_job"]
    training = next(logical for logical, job in jobs.items() if job["name"] == f"[{env}] hrob training")
    monitoring = jobs_by_name(stack)[f"[{env}] hrob monitoring"]
    tasks = {t["task_key"]: t for t in monitoring["task"]}
    assert list(tasks) == ["monitor", "threshold_crossed", "retrain"]
    assert tasks["monitor"]["spark_python_task"]["python_file"] == "ml/jobs/monitor.py"
    condition = tasks["threshold_crossed"]
    assert condition["condition_task"] == {
        "left": "{{tasks.monitor.values.retrain}}",
        "op": "EQUAL_TO",
        "right": "true",
    }
    assert condition["depends_on"] == [{"task_key": "monitor"}]
    retrain = tasks["retrain"]
    # as of the monitored date: a parameter the training job declares, a reference the monitoring job resolves
    assert retrain["run_job_task"] == {
        "job_id": f"${{databricks_job.{training}.id}}",
        "job_parameters": {"as_of": "{{job.parameters.scoring_date}}"},
    }
    assert retrain["depends_on"] == [{"task_key": "threshold_crossed", "outcome": "true"}]
    for task in (condition, retrain):  # neither needs a cluster; a condition allows no retries
        assert "job_cluster_key" not in task and "library" not in task and "max_retries" not in task


def test_dev_starts_nothing_by_itself(synthesized):
    for job in resources(synthesized["dev"], "databricks_job"):
        start = job.get("schedule") or job.get("trigger")
        assert start["pause_status"] == "PAUSED", job["name"]


def deployment(env: str):
    return load_settings(env).environment.deployment


def service_principal_id(env: str) -> str:
    return deployment(env).service_principal.application_id


def principal_ref(stack: dict, role: str) -> str:
    """The reference to the adopted service principal of `role` (its data source)."""
    (name,) = [n for n in data_sources(stack, "databricks_service_principal") if n.startswith(f"identity_{role}_")]
    return f"${{data.databricks_service_principal.{name}.application_id}}"


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_deployer_run_as_and_planner_are_distinct_adopted_identities(synthesized, env):
    stack, config = synthesized[env], deployment(env)
    adopted = {
        name.split("_")[1]: item["application_id"]
        for name, item in data_sources(stack, "databricks_service_principal").items()
    }
    assert adopted == {
        "run": config.service_principal.application_id,
        "deployer": config.deployer.application_id,
        "planner": config.planner.application_id,
    }
    assert len(set(adopted.values())) == 3
    assert not resources(stack, "databricks_service_principal"), "principals are adopted, never created"
    (current,) = data_sources(stack, "databricks_current_user").values()
    (check,) = current["lifecycle"]["postcondition"]
    assert check["condition"] == f'${{self.user_name == "{config.deployer.application_id}"}}'
    assert f"hrob-{env}-deploy" in check["error_message"]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_jobs_run_as_the_environment_principal_by_reference(synthesized, env):
    stack = synthesized[env]
    run_as = principal_ref(stack, "run_as")
    for job in resources(stack, "databricks_job"):
        assert job["run_as"] == {"service_principal_name": run_as}
    (rule_set,) = resources(stack, "databricks_access_control_rule_set")
    assert rule_set["name"].endswith(f"/servicePrincipals/{run_as}/ruleSets/default")
    deployer = principal_ref(stack, "deployer").replace(".application_id}", ".acl_principal_id}")
    assert {(r["role"], tuple(r["principals"])) for r in rule_set["grant_rules"]} == {
        ("roles/servicePrincipal.user", (deployer,)),
        ("roles/servicePrincipal.manager", (deployer,)),
    }


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_run_as_principal_checks_out_azure_repos_with_its_own_entra_identity(synthesized, env):
    stack = synthesized[env]
    (credential,) = resources(stack, "databricks_git_credential")
    assert credential["git_provider"] == "azureDevOpsServicesAad"
    assert credential["principal_id"] == principal_ref(stack, "run_as").replace(".application_id}", ".id}")
    assert "personal_access_token" not in credential


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_principals_are_referenced_never_written_as_literal_ids(synthesized, env):
    """Outside the data sources that adopt them, a principal appears only as a reference,
    so Terraform looks it up before anything that names it."""
    stack = synthesized[env]
    literal = json.dumps(stack["resource"])
    for identity in deployment(env).identities().values():
        assert identity.application_id not in literal, identity.display_name


RUN_AS_ALLOWED = {"USE_CATALOG", "USE_SCHEMA", "SELECT", "MODIFY", "CREATE_TABLE", "EXECUTE"}


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_run_as_gets_only_what_its_jobs_need(synthesized, env):
    stack = synthesized[env]
    run_as = principal_ref(stack, "run_as")
    for kind in ("databricks_group_member", "databricks_entitlements", "databricks_service_principal_role"):
        assert not resources(stack, kind), f"{kind}: no admin, entitlement or role is granted here"
    granted = [g for g in resources(stack, "databricks_grant") if g["principal"] == run_as]
    granted += [
        dict(grant, **{k: v for k, v in g.items() if k != "grant"})
        for g in resources(stack, "databricks_grants")
        for grant in g["grant"]
        if grant["principal"] == run_as
    ]
    settings = load_settings(env).environment
    own_schema = {f"${{databricks_schema.{name}.id}}" for name in stack["resource"]["databricks_schema"]}
    allowed = {settings.catalog, settings.source_schema.split(".")[0], settings.source_schema, *own_schema}
    assert granted
    for grant in granted:
        assert set(grant["privileges"]) <= RUN_AS_ALLOWED, grant
        assert (grant.get("catalog") or grant.get("schema")) in allowed, grant
    for assignment in resources(stack, "azurerm_role_assignment"):
        assert run_as not in json.dumps(assignment) and "identity_run_as" not in json.dumps(assignment)
    levels = {
        (c["service_principal_name"], c["permission_level"])
        for p in resources(stack, "databricks_permissions")
        for c in p["access_control"]
        if c.get("service_principal_name") == run_as
    }
    assert {level for _, level in levels} <= {"CAN_MANAGE_RUN", "CAN_MANAGE", "CAN_READ"}
    manages = [
        p
        for p in resources(stack, "databricks_permissions")
        if (run_as, "CAN_MANAGE")
        in {(c.get("service_principal_name"), c["permission_level"]) for c in p["access_control"]}
    ]
    assert all("experiment_id" in p for p in manages), "run-as manages its experiment and nothing else"


def test_dev_jobs_run_as_the_developer(synthesized):
    assert not data_sources(synthesized["dev"], "databricks_service_principal")
    for job in resources(synthesized["dev"], "databricks_job"):
        assert "run_as" not in job


def test_each_principal_appears_only_in_its_own_environment(synthesized):
    for env in ("staging", "prod"):
        for identity in deployment(env).identities().values():
            for other, stack in synthesized.items():
                if other != env:
                    assert identity.application_id not in json.dumps(stack), f"{env} {identity.display_name} in {other}"


@pytest.mark.parametrize(("env", "level"), [("dev", "CAN_MANAGE"), ("staging", "CAN_VIEW"), ("prod", "CAN_VIEW")])
def test_job_permissions_least_privilege(synthesized, env, level):
    stack = synthesized[env]
    group = load_settings(env).project.platform.data_science_group
    permissions = [p for p in resources(stack, "databricks_permissions") if "job_id" in p]
    assert len(permissions) == len(JOBS)
    for permission in permissions:
        controls = {
            (c.get("group_name") or c.get("service_principal_name")): c["permission_level"]
            for c in permission["access_control"]
        }
        expected = {group: level}
        if env != "dev":
            expected[principal_ref(stack, "run_as")] = "CAN_MANAGE_RUN"
            expected[principal_ref(stack, "planner")] = "CAN_VIEW"
        assert controls == expected


@pytest.mark.parametrize(
    ("env", "folder_level", "experiment", "model"),
    [
        ("dev", "CAN_MANAGE", "CAN_MANAGE", ["ALL_PRIVILEGES"]),
        ("staging", "CAN_READ", "CAN_READ", ["EXECUTE"]),
        ("prod", "CAN_READ", "CAN_READ", ["EXECUTE"]),
    ],
)
def test_experiment_model_and_schema_per_environment(synthesized, env, folder_level, experiment, model):
    settings = load_settings(env)
    stack = synthesized[env]
    group = settings.project.platform.data_science_group
    (exp,) = resources(stack, "databricks_mlflow_experiment")
    assert exp["name"] == settings.environment.experiment_path
    assert not exp["name"].startswith("/Shared/"), "everything under /Shared is all users: Can Manage"
    (folder,) = data_sources(stack, "databricks_directory").values()
    assert folder["path"] == settings.environment.experiment_folder == exp["name"].rsplit("/", 1)[0]
    (folder_acl,) = [p for p in resources(stack, "databricks_permissions") if "directory_path" in p]
    folder_levels = {
        (c.get("group_name") or c.get("service_principal_name")): c["permission_level"]
        for c in folder_acl["access_control"]
    }
    assert folder_levels[group] == folder_level
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
    model_grants = [g for g in resources(stack, "databricks_grants") if "model" in g]
    assert model_grants[0]["grant"] == [{"principal": group, "privileges": model}]
    if env != "dev":
        run_as = principal_ref(stack, "run_as")
        assert registered["owner"] == run_as
        assert folder_levels[principal_ref(stack, "deployer")] == "CAN_MANAGE"
        assert folder_levels[run_as] == folder_levels[principal_ref(stack, "planner")] == "CAN_READ"
        assert levels[run_as] == "CAN_MANAGE"
        sources = [g for g in resources(stack, "databricks_grant") if g.get("schema")]
        assert sources == [
            {"principal": run_as, "privileges": ["USE_SCHEMA", "SELECT"], "schema": settings.environment.source_schema}
        ]


def test_experiment_folders_are_per_environment(synthesized):
    folders = [
        next(iter(data_sources(stack, "databricks_directory").values()))["path"] for stack in synthesized.values()
    ]
    assert len(set(folders)) == len(folders)


def test_each_environment_keeps_its_state_in_its_own_container(synthesized):
    containers = []
    for env, stack in synthesized.items():
        backend = stack["terraform"]["backend"]["azurerm"]
        assert backend["use_azuread_auth"] is True
        assert backend["key"] == f"hrob/{env}.tfstate"
        assert backend["container_name"] == deployment(env).state_container
        assert set(backend) == {
            "container_name",
            "key",
            "resource_group_name",
            "storage_account_name",
            "use_azuread_auth",
        }
        containers.append(backend["container_name"])
    assert len(set(containers)) == len(containers)


def test_every_stack_requires_the_pinned_terraform(synthesized):
    version = load_settings("prod").project.platform.terraform_version
    for stack in synthesized.values():
        assert stack["terraform"]["required_version"] == f"= {version}"


def test_the_external_location_waits_for_its_role_assignment_to_propagate(synthesized):
    for stack in synthesized.values():
        (location,) = resources(stack, "databricks_external_location")
        (sleep_name,) = [d for d in location["depends_on"] if d.startswith("time_sleep.")]
        sleep = stack["resource"]["time_sleep"][sleep_name.split(".")[1]]
        assert sleep["triggers"]["role_assignment"].startswith(
            "${azurerm_role_assignment.storage_connector_writes_data"
        )
        assert int(sleep["create_duration"].rstrip("s")) >= 60
        (scope,) = resources(stack, "databricks_secret_scope")
        assert any(
            d.startswith("azurerm_role_assignment.storage_databricks_reads_secrets") for d in scope["depends_on"]
        )


def test_resource_groups_are_adopted_not_created(synthesized):
    for env, stack in synthesized.items():
        assert not resources(stack, "azurerm_resource_group")
        (group,) = data_sources(stack, "azurerm_resource_group").values()
        assert group["name"] == deployment(env).azure.resource_group_name


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


def test_every_provider_authenticates_one_way_through_the_azure_cli(synthesized):
    for stack in synthesized.values():
        (databricks,) = stack["provider"]["databricks"]
        assert databricks == {
            "host": load_settings("prod").project.platform.workspace_host,
            "azure_workspace_resource_id": load_settings("prod").project.platform.workspace_resource_id,
            "auth_type": "azure-cli",
        }
        (azurerm,) = stack["provider"]["azurerm"]
        assert {k: v for k, v in azurerm.items() if k.startswith("use_")} == {
            "use_cli": True,
            "use_msi": False,
            "use_oidc": False,
        }


def test_outputs(synthesized):
    for stack in synthesized.values():
        assert {f"{name}_job_id" for name in JOBS} | {"experiment_id", "model_name"} <= set(stack["output"])


def test_cdktf_json_runs_the_same_app():
    config = json.loads((REPO_ROOT / "cdktf.json").read_text())
    assert config["language"] == "python"
    assert shlex.split(config["app"])[1:] == ["-m", "infra.app"]
    package = json.loads((REPO_ROOT / "package.json").read_text())
    assert package["devDependencies"]["cdktn-cli"] == "0.24.0"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_a_data_quality_monitor_profiles_each_environments_predictions(synthesized, env):
    (monitor,) = resources(synthesized[env], "databricks_quality_monitor")
    settings = load_settings(env)
    assert monitor["table_name"] == f"{settings.namespace}.predictions"
    assert monitor["output_schema_name"] == settings.namespace, "metric tables in the environment's own schema"
    assert monitor["assets_dir"].startswith(f"/hrob-{env}")
    assert monitor["inference_log"] == [
        {
            "granularities": ["1 day"],
            "model_id_col": "model_version",
            "prediction_col": "risk_score",
            "problem_type": "PROBLEM_TYPE_REGRESSION",
            "timestamp_col": "scored_at",
        }
    ]
    assert monitor["slicing_exprs"] == ["landmark", "risk_tier"]
    assert monitor["notifications"][0]["on_failure"][0]["email_addresses"]
    assert any(d.startswith("databricks_schema.") for d in monitor["depends_on"])
