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
SCHEMA = REPO_ROOT.parent / "shared" / "schemas" / "azure-pipelines.schema.json"
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


def test_the_flow_per_branch():
    pr = expanded(PIPELINES / "pull-request.yml")
    assert pr["trigger"] == "none" and set(pr["pr"]["branches"]["include"]) == {"main", "release"}
    diffs = [j for s in pr["stages"] for j in s["jobs"] if j.get("job", "").startswith("diff_")]
    assert [j["job"] for j in diffs] == ["diff_staging", "diff_prod"]
    assert "refs/heads/release" in diffs[1]["condition"]
    main = expanded(PIPELINES / "main.yml")
    assert main["trigger"]["branches"]["include"] == ["main"]
    deploy = next(s for s in main["stages"] if s["stage"] == "deploy_staging")
    job = deploy["jobs"][0]
    assert job["environment"] == "hrob-staging"
    steps = job["strategy"]["runOnce"]["deploy"]["steps"]
    azure = [s for s in steps if s.get("task") == "AzureCLI@2"]
    assert all(s["inputs"]["azureSubscription"] == "hrob-staging-sp" for s in azure)
    assert [s["inputs"]["arguments"] for s in azure] == ["make deploy ENV=staging", "make train-remote ENV=staging"]
    release = expanded(PIPELINES / "release.yml")
    prod = next(s for s in release["stages"] if s["stage"] == "deploy_prod")["jobs"][0]
    assert prod["environment"] == "hrob-prod"
    assert "make smoke ENV=prod" in json.dumps(prod)


def test_no_secret_in_any_pipeline():
    for path in PIPELINES.rglob("*.yml"):
        text = path.read_text().lower()
        for word in ("password", "client_secret", "clientsecret", "dapi"):
            assert word not in text, f"{path.name} mentions {word}"
