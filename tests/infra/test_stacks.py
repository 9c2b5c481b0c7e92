"""The synthesized Terraform JSON of every stack: what each environment deploys, split into
what the platform team applies once (`<env>-bootstrap`) and what CI's deployer applies on
every release (`<env>`), each asserted against the rights its applier has."""

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
STACKS = {*ENVS, *(f"{env}-bootstrap" for env in ENVS)}


def resources(stack: dict, kind: str) -> list[dict]:
    """Resources of one type, without the '//' metadata cdktn adds."""
    return [{k: v for k, v in item.items() if k != "//"} for item in stack.get("resource", {}).get(kind, {}).values()]


def jobs_by_name(stack: dict) -> dict[str, dict]:
    return {job["name"]: job for job in resources(stack, "databricks_job")}


def test_two_stacks_per_deployed_environment(synthesized):
    assert set(synthesized) == STACKS


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
    for env in ENVS:
        jobs = jobs_by_name(synthesized[env])
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
                assert 0 < deployed["timeout_seconds"] <= job["timeout_seconds"] and "max_retries" in deployed
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
    for stack in (synthesized[env] for env in ENVS):
        for job in resources(stack, "databricks_job"):
            for task in python_tasks(job):
                assert (REPO_ROOT / task["spark_python_task"]["python_file"]).is_file()


def test_job_clusters_run_the_configured_runtime(synthesized):
    runtime = load_settings("prod").project.runtime
    for stack in (synthesized[env] for env in ENVS):
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
    for stack in (synthesized[env] for env in ENVS):
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


@pytest.mark.parametrize("env", ENVS)
def test_a_triggered_retrain_waits_as_long_as_training_may_run(synthesized, env):
    jobs = jobs_by_name(synthesized[env])
    training, monitoring = jobs[f"[{env}] hrob training"], jobs[f"[{env}] hrob monitoring"]
    tasks = {t["task_key"]: t for t in monitoring["task"]}
    assert tasks["retrain"]["timeout_seconds"] == training["timeout_seconds"] == JOBS["training"].timeout_seconds
    assert tasks["monitor"]["timeout_seconds"] == JOBS["monitoring"].timeout_seconds
    assert monitoring["timeout_seconds"] >= tasks["monitor"]["timeout_seconds"] + training["timeout_seconds"]
    assert monitoring["health"]["rules"][0]["value"] < monitoring["timeout_seconds"]


def test_dev_starts_nothing_by_itself(synthesized):
    starts = {}
    for job in resources(synthesized["dev"], "databricks_job"):
        start = job.get("schedule") or job.get("trigger")
        starts[job["name"]] = start and start["pause_status"]
    # the rollback job is started only by a person; every other job's start is paused
    assert {name for name, status in starts.items() if status is None} == {"[dev] hrob rollback"}
    assert {status for status in starts.values() if status} == {"PAUSED"}


def deployment(env: str):
    return load_settings(env).environment.deployment


def service_principal_id(env: str) -> str:
    return deployment(env).service_principal.application_id


def principal_ref(stack: dict, role: str) -> str:
    """The reference to the adopted service principal of `role` (its data source)."""
    (name,) = [
        n
        for n in data_sources(stack, "databricks_service_principal")
        if n.startswith((f"identity_{role}_", f"principals_{role}_"))
    ]
    return f"${{data.databricks_service_principal.{name}.application_id}}"


def adopted(stack: dict) -> dict[str, str]:
    return {
        name.split("_")[1]: item["application_id"]
        for name, item in data_sources(stack, "databricks_service_principal").items()
    }


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_deployer_run_as_and_planner_are_distinct_adopted_identities(synthesized, env):
    config = deployment(env)
    for stack in (synthesized[env], synthesized[f"{env}-bootstrap"]):
        assert adopted(stack) == {
            "run": config.service_principal.application_id,
            "deployer": config.deployer.application_id,
            "planner": config.planner.application_id,
        }
        assert not resources(stack, "databricks_service_principal"), "principals are adopted, never created"


@pytest.mark.parametrize("name", sorted(STACKS))
def test_no_plan_meets_a_check_of_who_applies_it(synthesized, name):
    """A pull request's plan runs as the planner: nothing in a stack may insist on the
    deployer (infra/deploy.py checks the identity before a deploy instead). The bootstrap
    reads who applies it only to let that identity create the trigger tables."""
    stack = synthesized[name]
    if not name.endswith("-bootstrap"):
        assert "databricks_current_user" not in stack.get("data", {})
    assert "postcondition" not in json.dumps(stack) and "precondition" not in json.dumps(stack)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_jobs_run_as_the_environment_principal_after_the_bootstrap_gave_the_deployer_its_roles(synthesized, env):
    stack, boot = synthesized[env], synthesized[f"{env}-bootstrap"]
    run_as = principal_ref(stack, "run_as")
    applied = "time_static.bootstrap_applied"
    triggers = stack["resource"]["time_static"]["bootstrap_applied"]["triggers"]
    assert triggers["run_as_roles"] == "${data.terraform_remote_state.bootstrap.outputs.run_as_roles}"
    assert "outputs.trigger_tables" in triggers["trigger_tables"]
    for job in resources(stack, "databricks_job"):
        assert job["run_as"] == {"service_principal_name": run_as}
        assert job["depends_on"] == [applied], "created once the roles and the trigger tables exist"
    assert not resources(stack, "databricks_access_control_rule_set"), "the roles are the bootstrap's"
    (rule_set,) = resources(boot, "databricks_access_control_rule_set")
    (rule_name,) = boot["resource"]["databricks_access_control_rule_set"]
    assert boot["output"]["run_as_roles"]["value"] == f"${{databricks_access_control_rule_set.{rule_name}.id}}"
    boot_run_as = principal_ref(boot, "run_as")
    assert rule_set["name"].endswith(f"/servicePrincipals/{boot_run_as}/ruleSets/default")
    deployer = principal_ref(boot, "deployer").replace(".application_id}", ".acl_principal_id}")
    assert {(r["role"], tuple(r["principals"])) for r in rule_set["grant_rules"]} == {
        ("roles/servicePrincipal.user", (deployer,)),
        ("roles/servicePrincipal.manager", (deployer,)),
    }
    state = stack["data"]["terraform_remote_state"]["bootstrap"]["config"]
    assert (
        state["key"] == f"hrob/{env}-bootstrap.tfstate" and state["container_name"] == deployment(env).state_container
    )


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_run_as_principal_checks_out_azure_repos_with_its_own_entra_identity(synthesized, env):
    boot = synthesized[f"{env}-bootstrap"]
    (credential,) = resources(boot, "databricks_git_credential")
    assert credential["git_provider"] == "azureDevOpsServicesAad"
    assert credential["principal_id"] == principal_ref(boot, "run_as").replace(".application_id}", ".id}")
    assert "personal_access_token" not in credential
    assert not resources(synthesized[env], "databricks_git_credential"), "the deployer may not manage it"


@pytest.mark.parametrize("name", sorted(STACKS - {"dev", "dev-bootstrap"}))
def test_principals_are_referenced_never_written_as_literal_ids(synthesized, name):
    """Outside the data sources that adopt them, a principal appears only as a reference,
    so Terraform looks it up before anything that names it."""
    stack = synthesized[name]
    literal = json.dumps(stack["resource"])
    for identity in deployment(name.removesuffix("-bootstrap")).identities().values():
        assert identity.application_id not in literal, identity.display_name


RUN_AS_ALLOWED = {"USE_CATALOG", "USE_SCHEMA", "SELECT", "MODIFY", "CREATE_TABLE", "EXECUTE"}


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_run_as_gets_only_what_its_jobs_need(synthesized, env):
    settings = load_settings(env).environment
    granted = []
    for stack in (synthesized[env], synthesized[f"{env}-bootstrap"]):
        run_as = principal_ref(stack, "run_as")
        for kind in ("databricks_group_member", "databricks_entitlements", "databricks_service_principal_role"):
            assert not resources(stack, kind), f"{kind}: no admin, entitlement or role is granted here"
        granted += [g for g in resources(stack, "databricks_grant") if g["principal"] == run_as]
        granted += [
            dict(grant, **{k: v for k, v in g.items() if k != "grant"})
            for g in resources(stack, "databricks_grants")
            for grant in g["grant"]
            if grant["principal"] == run_as
        ]
        for assignment in resources(stack, "azurerm_role_assignment"):
            assert run_as not in json.dumps(assignment) and "principals_run_as" not in json.dumps(assignment)
    allowed = {
        settings.catalog,
        settings.source_schema.split(".")[0],
        settings.source_schema,
        f"{settings.catalog}.{settings.db_schema}",
    }
    assert granted
    for grant in granted:
        assert set(grant["privileges"]) <= RUN_AS_ALLOWED, grant
        assert (grant.get("catalog") or grant.get("schema")) in allowed, grant
    stack = synthesized[env]
    run_as = principal_ref(stack, "run_as")
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


@pytest.mark.parametrize("env", ENVS)
def test_catalog_grants_are_the_bootstraps_and_the_deployer_grants_only_inside_the_schema_it_owns(synthesized, env):
    """Unity Catalog: a privilege is granted by the securable's owner, a principal with
    MANAGE on it, the owner of the catalog or schema holding it, or a metastore admin. The
    deployer owns the environment's schema (the bootstrap hands it over), so the application
    stack grants only on that schema and on the model in it; every grant on a catalog or on
    the data platform's source schema is the bootstrap's."""
    settings = load_settings(env)
    stack, boot = synthesized[env], synthesized[f"{env}-bootstrap"]
    namespace = settings.namespace
    assert not resources(stack, "databricks_grant"), "no single grant outside the schema"
    for grants in resources(stack, "databricks_grants"):
        assert grants.get("schema") == namespace or "model" in grants, grants
    (schema,) = resources(boot, "databricks_schema")
    owner = principal_ref(boot, "deployer") if env != "dev" else settings.project.platform.data_science_group
    assert schema["owner"] == owner and f"{schema['catalog_name']}.{schema['name']}" == namespace
    on_catalogs = {g.get("catalog") or g.get("schema") for g in resources(boot, "databricks_grant")}
    on_catalogs.discard(f"${{databricks_schema.{next(iter(boot['resource']['databricks_schema']))}.id}}")  # creator
    assert on_catalogs <= {settings.environment.catalog, settings.environment.source_schema.split(".")[0],
                           settings.environment.source_schema}  # fmt: skip
    (schema_grants,) = [g for g in resources(stack, "databricks_grants") if "schema" in g]
    principals = {g["principal"]: g["privileges"] for g in schema_grants["grant"]}
    if env != "dev":
        assert principals[principal_ref(stack, "deployer")] == ["USE_SCHEMA", "SELECT"], "the monitor reads predictions"
        assert principals[principal_ref(stack, "planner")] == ["USE_SCHEMA"]
        assert principals[settings.project.platform.operations_group] == ["USE_SCHEMA"]


@pytest.mark.parametrize("env", ENVS)
def test_the_tables_the_triggers_name_exist_before_the_jobs(synthesized, env):
    """Databricks refuses a job whose table-update trigger names a missing table: the
    bootstrap creates each with the columns the code defines, owned by who the jobs run as,
    and never manages their columns afterwards."""
    from ml.data import outputs

    settings = load_settings(env)
    boot = synthesized[f"{env}-bootstrap"]
    tables = {t["name"]: t for t in resources(boot, "databricks_sql_table")}
    named = {
        trigger["table_update"]["table_names"][0]
        for job in resources(synthesized[env], "databricks_job")
        if (trigger := job.get("trigger"))
    }
    assert (
        named
        == {f"{settings.namespace}.{name}" for name in tables}
        == {
            f"{settings.namespace}.{outputs.FEATURES}",
            f"{settings.namespace}.{outputs.PREDICTIONS}",
        }
    )
    owner = principal_ref(boot, "run_as") if env != "dev" else settings.project.platform.data_science_group
    predictions = tables[outputs.PREDICTIONS]
    assert [(c["name"], c["type"]) for c in predictions["column"]] == outputs.prediction_columns(
        settings.project.inference.top_factors
    )
    assert predictions["partitions"] == ["scoring_date"]
    assert tables[outputs.FEATURES]["partitions"] == [outputs.FEATURE_PARTITION]
    for table in tables.values():
        assert table["owner"] == owner and table["table_type"] == "MANAGED" and table["data_source_format"] == "DELTA"
        assert table["warehouse_id"] == settings.project.platform.sql_warehouse_id
        assert table["lifecycle"]["ignore_changes"] == ["column"]
        assert any(d.startswith("databricks_schema.") for d in table["depends_on"])
        (creator,) = [d for d in table["depends_on"] if d.startswith("databricks_grant.")]
    # the identity applying the bootstrap creates them in the schema it hands to the deployer
    grant = boot["resource"]["databricks_grant"][creator.split(".")[1]]
    (me,) = data_sources(boot, "databricks_current_user")
    assert grant["principal"] == f"${{data.databricks_current_user.{me}.user_name}}"
    assert grant["privileges"] == ["USE_SCHEMA", "CREATE_TABLE"] and grant["schema"].startswith("${databricks_schema.")
    names = [v for v in boot["output"]["trigger_tables"]["value"]]
    assert sorted(names) == sorted(
        f"${{databricks_sql_table.{n}.id}}" for n in boot["resource"]["databricks_sql_table"]
    )


def test_dev_jobs_run_as_the_developer(synthesized):
    assert not data_sources(synthesized["dev"], "databricks_service_principal")
    for job in resources(synthesized["dev"], "databricks_job"):
        assert "run_as" not in job


def test_each_principal_appears_only_in_its_own_environment(synthesized):
    for env in ("staging", "prod"):
        for identity in deployment(env).identities().values():
            for other, stack in synthesized.items():
                if other.removesuffix("-bootstrap") != env:
                    assert identity.application_id not in json.dumps(stack), f"{env} {identity.display_name} in {other}"


@pytest.mark.parametrize(("env", "level"), [("dev", "CAN_MANAGE"), ("staging", "CAN_VIEW"), ("prod", "CAN_VIEW")])
def test_job_permissions_least_privilege(synthesized, env, level):
    stack = synthesized[env]
    group = load_settings(env).project.platform.data_science_group
    operations = load_settings(env).project.platform.operations_group
    permissions = {p["job_id"]: p for p in resources(stack, "databricks_permissions") if "job_id" in p}
    assert len(permissions) == len(JOBS)
    names = {f"${{databricks_job.{n}.id}}": j["name"] for n, j in stack["resource"]["databricks_job"].items()}
    for job_id, permission in permissions.items():
        controls = {
            (c.get("group_name") or c.get("service_principal_name")): c["permission_level"]
            for c in permission["access_control"]
        }
        expected = {group: level}
        if env != "dev":
            expected[principal_ref(stack, "run_as")] = "CAN_MANAGE_RUN"
            expected[principal_ref(stack, "planner")] = "CAN_VIEW"
        if names[job_id].endswith(" rollback"):
            expected[operations] = "CAN_MANAGE_RUN"  # on call rolls back, as the model's owner
        assert controls == expected


@pytest.mark.parametrize(
    ("env", "folder_level", "experiment", "model"),
    [
        ("dev", "CAN_MANAGE", "CAN_MANAGE", ["ALL_PRIVILEGES"]),
        ("staging", "CAN_READ", "CAN_READ", ["EXECUTE"]),
        ("prod", "CAN_READ", "CAN_READ", ["EXECUTE"]),
    ],
)
def test_experiment_model_and_folder_per_environment(synthesized, env, folder_level, experiment, model):
    settings = load_settings(env)
    stack, boot = synthesized[env], synthesized[f"{env}-bootstrap"]
    group = settings.project.platform.data_science_group
    (exp,) = resources(stack, "databricks_mlflow_experiment")
    assert exp["name"] == settings.environment.experiment_path
    assert not exp["name"].startswith("/Shared/"), "everything under /Shared is all users: Can Manage"
    (adopted_folder,) = data_sources(stack, "databricks_directory").values()
    (folder,) = resources(boot, "databricks_directory")
    assert folder["path"] == adopted_folder["path"] == settings.environment.experiment_folder
    assert folder["path"] == exp["name"].rsplit("/", 1)[0]
    assert not [p for p in resources(stack, "databricks_permissions") if "directory_path" in p], "the bootstrap's"
    (folder_acl,) = [p for p in resources(boot, "databricks_permissions") if "directory_path" in p]
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
    (model_grants,) = [g for g in resources(stack, "databricks_grants") if "model" in g]
    readers = {g["principal"]: g["privileges"] for g in model_grants["grant"]}
    assert readers[group] == model and readers[settings.project.platform.operations_group] == ["EXECUTE"]
    if env != "dev":
        run_as = principal_ref(stack, "run_as")
        assert registered["owner"] == run_as
        # the deployer hands the model over and keeps reading it (make train-remote's report)
        assert readers[principal_ref(stack, "deployer")] == ["EXECUTE"]
        assert folder_levels[principal_ref(boot, "deployer")] == "CAN_MANAGE"
        assert (
            folder_levels[principal_ref(boot, "run_as")] == folder_levels[principal_ref(boot, "planner")] == "CAN_READ"
        )
        assert levels[run_as] == "CAN_MANAGE"
        source = settings.environment.source_schema
        sources = [g for g in resources(boot, "databricks_grant") if g.get("schema") == source]
        assert sources == [
            {
                "principal": principal_ref(boot, "run_as"),
                "privileges": ["USE_SCHEMA", "SELECT"],
                "schema": settings.environment.source_schema,
            }
        ]


@pytest.mark.parametrize("env", ENVS)
def test_on_call_rolls_back_through_a_job_run_as_the_models_owner(synthesized, env):
    (rollback,) = [j for j in resources(synthesized[env], "databricks_job") if j["name"] == f"[{env}] hrob rollback"]
    (task,) = rollback["task"]
    assert task["spark_python_task"]["python_file"] == "ml/jobs/rollback.py" and task["max_retries"] == 0
    assert {p["name"] for p in rollback["parameter"]} == {"reason", "requested_by"}
    assert "schedule" not in rollback and "trigger" not in rollback, "started by a person only"


def test_experiment_folders_are_per_environment(synthesized):
    folders = [resources(synthesized[f"{env}-bootstrap"], "databricks_directory")[0]["path"] for env in ENVS]
    assert len(set(folders)) == len(folders)


def test_each_environment_keeps_its_states_in_its_own_container(synthesized):
    containers = []
    for name, stack in synthesized.items():
        env = name.removesuffix("-bootstrap")
        backend = stack["terraform"]["backend"]["azurerm"]
        assert backend["use_azuread_auth"] is True
        assert backend["key"] == f"hrob/{name}.tfstate"
        assert backend["container_name"] == deployment(env).state_container
        assert set(backend) == {
            "container_name",
            "key",
            "resource_group_name",
            "storage_account_name",
            "use_azuread_auth",
        }
        containers.append(backend["container_name"])
    assert len(set(containers)) == len(ENVS), "bootstrap and application share their environment's container"


@pytest.mark.parametrize("env", ENVS)
def test_the_bootstrap_seeds_an_empty_state_so_a_first_pull_request_can_plan(synthesized, env):
    """Without a state the azurerm backend would create and lease one on the first plan:
    the read-only planner cannot. The bootstrap writes an empty one where the application
    stack keeps its state, once, never over an existing one."""
    boot = synthesized[f"{env}-bootstrap"]
    (blob,) = resources(boot, "azurerm_storage_blob")
    assert blob["name"] == synthesized[env]["terraform"]["backend"]["azurerm"]["key"] == f"hrob/{env}.tfstate"
    assert blob["storage_container_id"].endswith(f"/blobServices/default/containers/{deployment(env).state_container}")
    state = json.loads(blob["source_content"])
    assert state["version"] == 4 and state["resources"] == [] and state["serial"] == 0
    assert blob["lifecycle"]["ignore_changes"] == ["source_content", "content_md5"]
    assert blob["provider"] == "azurerm.state", "the platform's state account, over its data plane"


def test_every_stack_requires_the_pinned_terraform(synthesized):
    version = load_settings("prod").project.platform.terraform_version
    for stack in synthesized.values():
        assert stack["terraform"]["required_version"] == f"= {version}"


def test_the_external_location_waits_for_its_role_assignment_to_propagate(synthesized):
    for env in ENVS:
        stack = synthesized[f"{env}-bootstrap"]
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


@pytest.mark.parametrize("env", ENVS)
def test_storage_admits_the_workspaces_compute_and_nothing_else(synthesized, env):
    platform = load_settings(env).project.platform
    (account,) = resources(synthesized[f"{env}-bootstrap"], "azurerm_storage_account")
    rules = account["network_rules"]
    assert rules["default_action"] == "Deny" and rules["bypass"] == ["AzureServices"]
    assert rules["virtual_network_subnet_ids"] == [*platform.workspace_subnet_ids, *platform.serverless_subnet_ids]
    assert rules["private_link_access"][0]["endpoint_resource_id"].startswith("${azurerm_databricks_access_connector.")
    assert "ip_rules" not in rules


def test_resource_groups_are_adopted_not_created_and_only_the_bootstrap_touches_azure(synthesized):
    for env in ENVS:
        boot, stack = synthesized[f"{env}-bootstrap"], synthesized[env]
        assert not resources(boot, "azurerm_resource_group")
        (group,) = data_sources(boot, "azurerm_resource_group").values()
        assert group["name"] == deployment(env).azure.resource_group_name
        assert not [kind for kind in stack.get("resource", {}) if kind.startswith("azurerm_")]
        assert "azurerm" not in stack["provider"], "the application stack needs no Azure rights"


def _lifecycle_protected(stack: dict) -> set[str]:
    return {
        kind
        for kind, items in stack["resource"].items()
        for item in items.values()
        if item.get("lifecycle", {}).get("prevent_destroy")
    }


def test_prod_data_and_model_carry_prevent_destroy(synthesized):
    assert {"databricks_registered_model", "databricks_mlflow_experiment"} <= _lifecycle_protected(synthesized["prod"])
    assert {
        "databricks_schema",
        "databricks_sql_table",
        "databricks_directory",
        "azurerm_storage_account",
        "azurerm_key_vault",
    } <= _lifecycle_protected(synthesized["prod-bootstrap"])
    for name in ("staging", "staging-bootstrap", "dev", "dev-bootstrap"):
        assert not _lifecycle_protected(synthesized[name]), name


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
    platform = load_settings("prod").project.platform
    for name, stack in synthesized.items():
        (databricks,) = stack["provider"]["databricks"]
        assert databricks == {
            "host": platform.workspace_host,
            "azure_workspace_resource_id": platform.workspace_resource_id,
            "auth_type": "azure-cli",
        }
        for azurerm in stack["provider"].get("azurerm", []):
            assert {k: v for k, v in azurerm.items() if k.startswith("use_")} == {
                "use_cli": True,
                "use_msi": False,
                "use_oidc": False,
            }, name


@pytest.mark.parametrize("env", ENVS)
def test_azurerm_registers_no_provider_and_manages_storage_without_its_data_plane(synthesized, env):
    """The firewalled account's data plane is closed to a hosted agent: Resource Manager
    only. The deployer's rights end at its resource group: no provider registration across
    the subscription (the platform team registers them once). Only the state seed, on the
    platform's state account, writes over a data plane."""
    providers = {p.get("alias", ""): p for p in synthesized[f"{env}-bootstrap"]["provider"]["azurerm"]}
    assert set(providers) == {"", "state"}
    assert providers[""]["features"] == [{"storage": [{"data_plane_available": False}]}]
    assert providers["state"]["features"] == [{"storage": [{"data_plane_available": True}]}]
    assert all(p["resource_provider_registrations"] == "none" for p in providers.values())


def test_outputs(synthesized):
    for env in ENVS:
        assert {f"{name}_job_id" for name in JOBS} | {"experiment_id", "model_name", "schema"} <= set(
            synthesized[env]["output"]
        )
        assert {"schema", "secret_scope", "trigger_tables", "run_as_roles"} <= set(
            synthesized[f"{env}-bootstrap"]["output"]
        )


def test_cdktf_json_runs_the_same_app():
    config = json.loads((REPO_ROOT / "cdktf.json").read_text())
    assert config["language"] == "python"
    assert shlex.split(config["app"])[1:] == ["-m", "infra.app"]
    package = json.loads((REPO_ROOT / "package.json").read_text())
    assert package["devDependencies"]["cdktn-cli"] == "0.24.0"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_a_data_quality_monitor_profiles_each_environments_predictions(synthesized, env):
    stack = synthesized[env]
    (monitor,) = resources(stack, "databricks_quality_monitor")
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
    # created by the deployer once its own SELECT on the schema is granted, on the platform's warehouse
    assert monitor["warehouse_id"] == settings.project.platform.sql_warehouse_id
    (grants,) = [n for n, g in stack["resource"]["databricks_grants"].items() if "schema" in g]
    assert f"databricks_grants.{grants}" in monitor["depends_on"]
    assert "time_static.bootstrap_applied" in monitor["depends_on"], "after the bootstrap created the table"
