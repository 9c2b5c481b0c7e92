"""checkov scans the synthesized Terraform JSON offline. Any failed check fails the
tests unless infra/checkov_skips.yml lists it with a reason; a listed check that no
longer fails anywhere fails them too, so the list cannot go stale."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from ml.runtime.paths import REPO_ROOT

SKIPS_FILE = REPO_ROOT / "infra" / "checkov_skips.yml"


def checkov() -> Path:
    path = Path(os.environ.get("HROB_CHECKOV") or REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov")
    if not path.exists():
        pytest.fail(f"checkov not found at {path}: `make test` installs it into .tools/checkov")
    return path


def failed_checks(stacks_dir: Path) -> dict[str, set[str]]:
    """Per stack (a folder of `stacks_dir`), the ids of the checks that fail."""
    command = [str(checkov()), "-d", str(stacks_dir), "--skip-download", "-o", "json", "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.stdout, done.stderr[-2000:]
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed: dict[str, set[str]] = {}
    for report in reports:
        if "results" not in report:  # a framework with nothing to scan
            continue
        for check in report["results"]["failed_checks"]:
            stack = Path(check["file_path"]).parts[1]  # "/<stack>/cdk.tf.json"
            failed.setdefault(stack, set()).add(check["check_id"])
    assert any("results" in r for r in reports), "checkov scanned nothing"
    return failed


@pytest.fixture(scope="module")
def skips() -> dict[str, str]:
    return yaml.safe_load(SKIPS_FILE.read_text())


@pytest.fixture(scope="module")
def failing(synthesized, tmp_path_factory) -> dict[str, set[str]]:
    """Per stack, every check that fails with nothing skipped (one scan of all stacks, as
    `make scan` runs it; what it reports is this minus the listed skips)."""
    root = tmp_path_factory.mktemp("scan")
    for env, stack in synthesized.items():
        (root / env).mkdir()
        (root / env / "cdk.tf.json").write_text(json.dumps(stack))
    found = failed_checks(root)
    return {env: found.get(env, set()) for env in synthesized}


def test_every_skip_has_a_reason_and_is_documented(skips):
    readme = (REPO_ROOT / "README.md").read_text()
    for check, reason in skips.items():
        assert len(reason.split()) >= 8, f"{check}: give a reason"
        assert check in readme, f"{check}: list it in the README"


def test_no_failed_checks_beyond_the_listed_skips(failing, skips):
    for env, checks in failing.items():
        assert checks - set(skips) == set(), f"{env}: new failures"


def test_each_skip_is_still_needed(failing, skips):
    anywhere = set().union(*failing.values())
    assert set(skips) <= anywhere, f"no longer failing, remove the skip: {sorted(set(skips) - anywhere)}"
