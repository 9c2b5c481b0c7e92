"""Every pipeline validates against the Azure Pipelines schema once its templates are
expanded, and everything it runs exists: make targets and scripts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from ml.runtime.paths import REPO_ROOT

PIPELINES = REPO_ROOT / "pipelines"
SCHEMA = PIPELINES / "schema" / "azure-pipelines.schema.json"  # vendored with its MIT licence
TOP_LEVEL = sorted(PIPELINES.glob("*.yml"))
EXPRESSION = re.compile(r"\$\{\{\s*parameters\.(\w+)\s*\}\}")


def _substitute(node, parameters: dict):
    if isinstance(node, str):
        whole = EXPRESSION.fullmatch(node.strip())
        if whole:
            return parameters[whole.group(1)]
        return EXPRESSION.sub(lambda m: str(parameters[m.group(1)]), node)
    if isinstance(node, list):
        return [_substitute(item, parameters) for item in node]
    if isinstance(node, dict):
        return {_substitute(k, parameters): _substitute(v, parameters) for k, v in node.items()}
    return node


def expand(node, folder: Path):
    """Replace `- template: x.yml` items by the template's expanded content, as Azure
    DevOps does at compile time (parameters substituted, defaults applied)."""
    if isinstance(node, list):
        out = []
        for item in node:
            if isinstance(item, dict) and set(item) <= {"template", "parameters"} and "template" in item:
                path = folder / item["template"]
                assert path.is_file(), f"template {item['template']} not found from {folder}"
                template = yaml.safe_load(path.read_text())
                declared = {p["name"]: p for p in template.get("parameters", [])}
                given = item.get("parameters", {})
                unknown = set(given) - set(declared)
                assert not unknown, f"{path.name}: unknown parameters {unknown}"
                values = {n: given.get(n, p.get("default")) for n, p in declared.items()}
                missing = [n for n, v in values.items() if v is None]
                assert not missing, f"{path.name}: parameters {missing} not given"
                body = _substitute({k: v for k, v in template.items() if k != "parameters"}, values)
                (content,) = body.values()  # a template holds one list: steps, jobs, stages or variables
                out.extend(expand(content, path.parent))
            else:
                out.append(expand(item, folder))
        return out
    if isinstance(node, dict):
        return {k: expand(v, folder) for k, v in node.items()}
    return node


@pytest.fixture(scope="module")
def schema():
    return json.loads(SCHEMA.read_text())


def expanded(path: Path) -> dict:
    return expand(yaml.safe_load(path.read_text()), path.parent)


def test_there_is_a_pipeline_per_branch_flow():
    assert {p.name for p in TOP_LEVEL} == {"pull-request.yml", "main.yml", "release.yml"}


@pytest.mark.parametrize("path", TOP_LEVEL, ids=lambda p: p.name)
def test_each_pipeline_validates_against_the_schema_with_templates_expanded(path, schema):
    document = expanded(path)
    jsonschema.validate(document, schema)
    assert "${{" not in json.dumps(document), "an expression was left unexpanded"


def test_every_template_is_used():
    """Templates are validated expanded, inside the pipelines that use them: none may be dead."""
    used = set()
    for path in [*TOP_LEVEL, *(PIPELINES / "templates").glob("*.yml")]:
        used |= set(re.findall(r"template:\s*(?:templates/)?([\w.-]+\.yml)", path.read_text()))
    assert {p.name for p in (PIPELINES / "templates").glob("*.yml")} == used


def test_the_schema_catches_a_broken_pipeline(schema):
    broken = expanded(PIPELINES / "main.yml")
    broken["stages"][0]["jobs"][0]["steps"][0] = {"scriptt": "make test"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)


def make_targets() -> set[str]:
    text = (REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, flags=re.M))


def test_every_make_target_and_script_the_pipelines_run_exists():
    targets = make_targets()
    used_targets, used_scripts = set(), set()
    for path in TOP_LEVEL:
        for text in _strings(expanded(path)):
            for command in re.findall(r"\bmake\s+([a-z][a-z0-9 -]*)", text):
                used_targets |= {word for word in command.split() if "=" not in word}
            used_scripts |= set(re.findall(r"(?:pipelines|scripts)/[\w./-]+\.(?:sh|py)", text))
    assert used_targets, "no make target found: the parser is broken"
    assert used_targets <= targets, f"missing make targets: {sorted(used_targets - targets)}"
    for script in used_scripts:
        assert (REPO_ROOT / script).is_file(), f"missing script: {script}"
    makefile = (REPO_ROOT / "Makefile").read_text()
    for script in re.findall(r"pipelines/scripts/[\w.-]+", makefile):
        assert (REPO_ROOT / script).is_file(), f"the Makefile runs a missing script: {script}"


def test_the_reference_check_notices_a_missing_target():
    assert "deploy" in make_targets() and "deploy-everything" not in make_targets()


def jobs_of(pipeline: dict) -> list[dict]:
    return [job for stage in pipeline["stages"] for job in stage["jobs"]]


def steps_of(job: dict) -> list[dict]:
    return job.get("steps") or job["strategy"]["runOnce"]["deploy"]["steps"]


def azure_steps(job: dict) -> list[dict]:
    return [s for s in steps_of(job) if s.get("task") == "AzureCLI@2"]


def test_the_flow_per_branch():
    pr = expanded(PIPELINES / "pull-request.yml")
    assert pr["trigger"] == "none" and pr["pr"] == "none", "Azure Repos starts it by branch policy, not pr:"
    plans = [j for j in jobs_of(pr) if j.get("job", "").startswith("plan_")]
    assert [j["job"] for j in plans] == ["plan_staging", "plan_prod"]
    assert "refs/heads/release" in plans[1]["condition"]
    main = expanded(PIPELINES / "main.yml")
    assert main["trigger"]["branches"]["include"] == ["main"]
    release = expanded(PIPELINES / "release.yml")
    for document, env, after in ((main, "staging", "make train-remote"), (release, "prod", "make smoke")):
        stages = {s["stage"]: s for s in document["stages"]}
        assert stages[f"plan_{env}"]["dependsOn"] == "checks"
        assert stages[f"deploy_{env}"]["dependsOn"] == f"plan_{env}", "what is approved is the plan before it"
        (plan,) = stages[f"plan_{env}"]["jobs"]
        assert [s["inputs"]["inlineScript"] for s in azure_steps(plan)] == [f"make plan-file ENV={env}"]
        (deploy,) = stages[f"deploy_{env}"]["jobs"]
        assert deploy["environment"] == f"hrob-{env}"
        assert [s["inputs"]["inlineScript"] for s in azure_steps(deploy)] == [
            f"make apply-plan ENV={env} PLAN_DIR=$(Pipeline.Workspace)/plan-{env}",
            f"{after} ENV={env}",
        ]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_deployment_applies_the_plan_artifact_its_approver_was_shown(env):
    pipeline = expanded(PIPELINES / ("main.yml" if env == "staging" else "release.yml"))
    stages = {s["stage"]: s for s in pipeline["stages"]}
    plan_steps = steps_of(stages[f"plan_{env}"]["jobs"][0])
    shown = next(s for s in plan_steps if "plan_summary.py" in s.get("script", ""))
    assert f"--plan cdktf.out/stacks/{env}/plan.txt" in shown["script"]
    (published,) = [s for s in plan_steps if "publish" in s]
    assert published == {
        "publish": f"cdktf.out/stacks/{env}",
        "artifact": f"plan-{env}",
        "displayName": published["displayName"],
    }
    deploy_steps = steps_of(stages[f"deploy_{env}"]["jobs"][0])
    assert deploy_steps[0] == {"download": "current", "artifact": f"plan-{env}", "displayName": "The approved plan"}
    assert [s for s in deploy_steps if "make deploy" in json.dumps(s)] == [], "nothing recomputed after approval"


@pytest.mark.parametrize(("pipeline", "env"), [("main.yml", "staging"), ("release.yml", "prod")])
def test_deploys_run_the_tested_commit_one_at_a_time_as_the_deployer(pipeline, env):
    document = expanded(PIPELINES / pipeline)
    assert document["lockBehavior"] == "sequential"
    (deploy,) = [j for j in jobs_of(document) if j.get("deployment")]
    steps = azure_steps(deploy)
    assert all(s["inputs"]["azureSubscription"] == f"hrob-{env}-deploy" for s in steps)
    assert steps[0]["env"] == {"CI": "true", "HROB_GIT_COMMIT": "$(Build.SourceVersion)"}


def test_pull_requests_reach_no_write_identity_and_the_token_only_the_comment_step():
    pr = expanded(PIPELINES / "pull-request.yml")
    connections = {s["inputs"]["azureSubscription"] for j in jobs_of(pr) for s in azure_steps(j)}
    assert connections == {"hrob-staging-plan", "hrob-prod-plan"}
    assert "-deploy" not in json.dumps(pr)
    for job in jobs_of(pr):
        holders = [s for s in steps_of(job) if "System.AccessToken" in json.dumps(s)]
        if job["job"].startswith("plan_"):
            (holder,) = holders
            assert holder["script"].startswith(".venv/bin/python pipelines/scripts/post_plan_comment.py")
            assert "make" not in holder["script"] and holder["env"] == {"SYSTEM_ACCESSTOKEN": "$(System.AccessToken)"}
        else:
            assert not holders


@pytest.mark.parametrize("path", TOP_LEVEL, ids=lambda p: p.name)
def test_terraform_is_installed_at_the_pinned_version_before_any_plan_or_deploy(path):
    for job in jobs_of(expanded(path)):
        scripts = [s.get("script") or s.get("inputs", {}).get("inlineScript", "") for s in steps_of(job)]
        cdktn = [i for i, s in enumerate(scripts) if re.match(r"make (plan|plan-file|apply-plan|diff|deploy)\b", s)]
        if cdktn:
            assert "make terraform" in scripts[: cdktn[0]], f"{path.name}: {job.get('job') or job.get('deployment')}"


@pytest.mark.parametrize("path", TOP_LEVEL, ids=lambda p: p.name)
def test_every_step_authenticates_one_way(path):
    """The Azure CLI session AzureCLI@2 opens, and nothing exported beside it."""
    for job in jobs_of(expanded(path)):
        for step in steps_of(job):
            text = json.dumps(step)
            assert "addSpnToEnvironment" not in text and "idToken" not in text and "ARM_" not in text
            assert "DATABRICKS_TOKEN" not in text and "servicePrincipalKey" not in text


def test_the_agents_run_the_java_spark_needs():
    variables = {
        v["name"]: v["value"] for v in yaml.safe_load((PIPELINES / "templates/variables.yml").read_text())["variables"]
    }
    assert variables["JAVA_HOME"] == "$(JAVA_HOME_17_X64)"


def test_no_secret_in_any_pipeline():
    for path in PIPELINES.rglob("*.yml"):
        text = path.read_text().lower()
        for word in ("password", "client_secret", "clientsecret", "dapi"):
            assert word not in text, f"{path.name} mentions {word}"
