"""checkov scans the synthesized Terraform JSON offline. Any failed check fails the
tests unless infra/checkov_skips.yml lists it with a reason; a listed check that no
longer fails anywhere fails them too, so the list cannot go stale."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from infra import scan
from ml.runtime.paths import REPO_ROOT


def checkov() -> Path:
    path = Path(os.environ.get("HROB_CHECKOV") or scan.CHECKOV)
    if not path.exists():
        pytest.fail(f"checkov not found at {path}: `make test` installs it into .tools/checkov")
    return path


def failed_checks(stacks_dir: Path, envs: set[str]) -> dict[str, set[str]]:
    """Per stack (a folder of `stacks_dir`), the ids of the checks that fail."""
    done = scan.checkov(stacks_dir, checkov(), None, "-o", "json")
    assert done.stdout, done.stderr[-2000:]
    assert "Failed to parse" not in done.stderr, done.stderr[-2000:]
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed: dict[str, set[str]] = {}
    scanned: set[str] = set()
    for report in reports:
        if "results" not in report:  # a framework with nothing to scan
            continue
        for outcome in ("passed_checks", "failed_checks"):
            for check in report["results"][outcome]:
                stack = Path(check["file_path"]).parts[1]  # "/<stack>/cdk.tf.json"
                scanned.add(stack)
                if outcome == "failed_checks":
                    failed.setdefault(stack, set()).add(check["check_id"])
    assert scanned == envs, f"checkov scanned {sorted(scanned)}, expected {sorted(envs)}"
    return failed


def azure_stacks(synthesized: dict[str, dict]) -> set[str]:
    """The stacks holding Azure resources, the ones checkov has checks for (its Databricks
    checks cover none of the resources the application stacks declare)."""
    return {name for name, stack in synthesized.items() if any(t.startswith("azurerm_") for t in stack["resource"])}


@pytest.fixture(scope="module")
def skips() -> dict[str, str]:
    return scan.skips()


@pytest.fixture(scope="module")
def failing(synthesized, tmp_path_factory) -> dict[str, set[str]]:
    """Per stack, every check that fails with nothing skipped (one scan of all stacks, as
    `make scan` runs it; what it reports is this minus the listed skips)."""
    found = failed_checks(scan.prepare(synthesized, tmp_path_factory.mktemp("scan")), azure_stacks(synthesized))
    return {env: found.get(env, set()) for env in synthesized}


def test_the_azure_resources_are_all_in_the_bootstrap_stacks(synthesized):
    """The platform team applies (and the scan judges) every Azure resource; the
    application stacks CI applies hold none."""
    assert azure_stacks(synthesized) == {f"{env}-bootstrap" for env in ("dev", "staging", "prod")}


def test_every_skip_has_a_reason_and_is_documented(skips):
    documented = (REPO_ROOT / "docs" / "infrastructure.md").read_text()
    for check, reason in skips.items():
        assert len(reason.split()) >= 8, f"{check}: give a reason"
        assert check in documented, f"{check}: list it in docs/infrastructure.md"


def test_no_failed_checks_beyond_the_listed_skips(failing, skips):
    for env, checks in failing.items():
        assert checks - set(skips) == set(), f"{env}: new failures"


def test_each_skip_is_still_needed(failing, skips):
    anywhere = set().union(*failing.values())
    assert set(skips) <= anywhere, f"no longer failing, remove the skip: {sorted(set(skips) - anywhere)}"
