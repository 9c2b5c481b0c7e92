"""The deploy path up to cdktn and Terraform, which cannot run here: the Terraform
installer (against a local stand-in of HashiCorp's releases), the pre-flight `make
plan|diff|deploy|bootstrap|plan-file|apply-plan` runs first (everything missing in one
line), and the commands it builds."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from infra import deploy, terraform
from infra.props import COMMIT_VARIABLE
from ml.config.loader import load_project, load_settings

VERSION = load_project("dev").platform.terraform_version


def fake_terraform(version: str) -> bytes:
    """A release archive whose `terraform` answers `version -json` like the real one."""
    script = f'#!/bin/sh\necho \'{{"terraform_version": "{version}", "platform": "linux_amd64"}}\'\n'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("terraform", script)
    return buffer.getvalue()


@pytest.fixture
def releases(tmp_path):
    """A local stand-in of releases.hashicorp.com/terraform for one version."""
    import http.server
    import threading

    archive = fake_terraform(VERSION)
    files = {
        f"/{VERSION}/terraform_{VERSION}_linux_amd64.zip": archive,
        f"/{VERSION}/terraform_{VERSION}_SHA256SUMS": (
            f"{hashlib.sha256(archive).hexdigest()}  terraform_{VERSION}_linux_amd64.zip\n"
            f"{'0' * 64}  terraform_{VERSION}_darwin_arm64.zip\n"
        ).encode(),
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", files
    server.shutdown()


def test_terraform_is_installed_at_the_pinned_version_after_its_checksum(releases, tmp_path):
    url, _ = releases
    path = terraform.install(VERSION, tmp_path / "tools", mirror=url, system="linux_amd64")
    assert path == tmp_path / "tools" / VERSION / "terraform" and os.access(path, os.X_OK)
    assert deploy.check_terraform(VERSION, tmp_path / "tools") == path
    assert terraform.install(VERSION, tmp_path / "tools", mirror="http://127.0.0.1:9") == path, "installed once"


def test_an_archive_that_does_not_match_its_checksum_is_not_installed(releases, tmp_path):
    url, files = releases
    files[f"/{VERSION}/terraform_{VERSION}_linux_amd64.zip"] = fake_terraform("6.6.6")
    with pytest.raises(terraform.TerraformError, match=r"SHA-256 .* does not match the release's"):
        terraform.install(VERSION, tmp_path / "tools", mirror=url, system="linux_amd64")
    assert not (tmp_path / "tools" / VERSION).exists()


def test_a_release_without_this_platform_or_unreachable_is_one_line(releases, tmp_path):
    url, _ = releases
    with pytest.raises(terraform.TerraformError, match=r"SHA256SUMS lists no terraform_.*_windows_amd64.zip"):
        terraform.install(VERSION, tmp_path / "t", mirror=url, system="windows_amd64")
    with pytest.raises(terraform.TerraformError, match=r"cannot download http://127.0.0.1:9/"):
        terraform.install(VERSION, tmp_path / "t", mirror="http://127.0.0.1:9", system="linux_amd64")


def test_missing_or_wrong_terraform_is_named(tmp_path):
    nothing = {"PATH": str(tmp_path / "empty")}  # this machine may have another Terraform on PATH
    with pytest.raises(deploy.DeployError, match=rf"^Terraform {VERSION} .* is not installed: run make terraform"):
        deploy.check_terraform(VERSION, tmp_path, nothing)
    other = tmp_path / VERSION / "terraform"
    other.parent.mkdir()
    other.write_text('#!/bin/sh\necho \'{"terraform_version": "1.5.7"}\'\n')
    other.chmod(0o755)
    with pytest.raises(
        deploy.DeployError, match=rf"is Terraform 1.5.7, the stacks require {VERSION}: run make terraform"
    ):
        deploy.check_terraform(VERSION, tmp_path, nothing)


def test_the_required_terraform_already_on_path_is_used(tmp_path):
    (tmp_path / "bin").mkdir()
    on_path = tmp_path / "bin" / "terraform"
    on_path.write_text(f'#!/bin/sh\necho \'{{"terraform_version": "{VERSION}"}}\'\n')
    on_path.chmod(0o755)
    assert deploy.check_terraform(VERSION, tmp_path / "no-tools", {"PATH": str(tmp_path / "bin")}) == on_path


ACCOUNT = {"id": "sub-42", "user": {"name": "00000000-0000-0000-0000-000000000000", "type": "servicePrincipal"}}


def fake_az(folder: Path, logged_in: bool = True, user: str = ACCOUNT["user"]["name"], state: bool = True):
    """An `az` answering `account show` and `storage blob exists` as the real one does."""
    folder.mkdir(exist_ok=True)
    az = folder / "az"
    account = json.dumps(ACCOUNT | {"user": {"name": user, "type": "servicePrincipal"}})
    login = f"echo '{account}'" if logged_in else "echo \"ERROR: Please run 'az login'\" >&2; exit 1"
    exists = json.dumps({"exists": state})
    az.write_text(
        f"#!/bin/sh\ncase \"$1\" in\n  account) {login} ;;\n  storage) echo '{exists}' ;;\n"
        f'  *) echo "unexpected $*" >&2; exit 3 ;;\nesac\n'
    )
    az.chmod(0o755)
    return {"PATH": f"{folder}:/usr/bin:/bin"}


def test_credentials_are_the_azure_cli_session_and_nothing_beside_it(tmp_path):
    assert deploy.check_credentials("staging", fake_az(tmp_path / "ok"))["id"] == "sub-42"
    with pytest.raises(deploy.DeployError, match=r"^no Azure CLI session: run az login \(CI: AzureCLI@2 with the"):
        deploy.check_credentials("staging", fake_az(tmp_path / "out", logged_in=False))
    with pytest.raises(deploy.DeployError, match=r"^the Azure CLI \(az\) is not installed"):
        deploy.check_credentials("staging", {"PATH": str(tmp_path / "empty")})
    both = fake_az(tmp_path / "ok") | {"ARM_CLIENT_SECRET": "s", "DATABRICKS_TOKEN": "dapi"}
    with pytest.raises(
        deploy.DeployError, match=r"^ARM_CLIENT_SECRET, DATABRICKS_TOKEN set beside the Azure CLI session"
    ):
        deploy.check_credentials("staging", both)


def test_only_the_environments_deployer_applies_it():
    for env in ("staging", "prod"):
        deployer = load_settings(env).environment.deployment.deployer
        deploy.check_deployer(env, {"user": {"name": deployer.application_id}})
        with pytest.raises(
            deploy.DeployError,
            match=rf"^{env} is applied by {deployer.display_name} \({deployer.application_id}\) only, not "
            rf"someone@plan.example: log in with the hrob-{env}-deploy service connection$",
        ):
            deploy.check_deployer(env, {"user": {"name": "someone@plan.example"}})
    staging = load_settings("staging").environment.deployment.deployer.application_id
    with pytest.raises(deploy.DeployError, match=r"^prod is applied by"):
        deploy.check_deployer("prod", {"user": {"name": staging}})
    deploy.check_deployer("dev", {"user": {"name": "someone@plan.example"}})  # the developer deploys dev


def test_a_missing_providers_lock_is_one_line(tmp_path):
    with pytest.raises(deploy.DeployError, match=r"providers.lock.hcl is missing: run make providers-lock"):
        deploy.check_providers_lock(tmp_path / "providers.lock.hcl")
    (tmp_path / "providers.lock.hcl").write_text("# pinned\n")
    assert deploy.check_providers_lock(tmp_path / "providers.lock.hcl") == tmp_path / "providers.lock.hcl"


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A clone whose origin has `main`, with the project's git helper pointed at it."""

    def git(*args, cwd):
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)

    origin, clone = tmp_path / "origin.git", tmp_path / "clone"
    git("init", "--bare", "-b", "main", str(origin), cwd=tmp_path)
    git("clone", str(origin), str(clone), cwd=tmp_path)
    for args in (("config", "user.email", "t@t"), ("config", "user.name", "t")):
        git(*args, cwd=clone)
    (clone / "a.txt").write_text("1")
    git("add", ".", cwd=clone)
    git("commit", "-m", "one", cwd=clone)
    git("push", "origin", "HEAD:main", cwd=clone)
    monkeypatch.setattr(deploy, "REPO_ROOT", clone)
    return clone, lambda *args: git(*args, cwd=clone)


def test_a_pinned_deploy_releases_a_clean_head_already_on_its_branch(checkout):
    clone, git = checkout
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    assert deploy.release_commit("staging", "main", {}) == head
    (clone / "a.txt").write_text("2")
    with pytest.raises(deploy.DeployError, match=r"^the working tree has uncommitted changes: staging runs a commit"):
        deploy.release_commit("staging", "main", {})
    git("commit", "-am", "two")
    with pytest.raises(deploy.DeployError, match=r"is not on origin/main: staging runs what main holds, so push it"):
        deploy.release_commit("staging", "main", {})
    assert deploy.release_commit("staging", "main", {COMMIT_VARIABLE: "f" * 40}) == "f" * 40, "CI's tested commit"


def test_what_cdktn_runs_for_each_action(tmp_path, checkout):
    terraform_bin = tmp_path / "tf" / "terraform"
    environ = {"PATH": "/usr/bin", COMMIT_VARIABLE: "a" * 40}
    plan = deploy.plan_for("plan", "staging", environ, terraform_bin, "sub-42")
    assert plan.command[1:] == ["diff", "staging"]
    assert plan.env["TF_CLI_ARGS_plan"] == "-lock=false -refresh=false", "the planner reads the state, no more"
    assert plan.record.name == "plan-staging.txt"
    assert plan.env["PATH"].split(os.pathsep)[0] == str(terraform_bin.parent)
    assert plan.env["ARM_SUBSCRIPTION_ID"] == "sub-42"

    person = deploy.plan_for("deploy", "prod", environ, terraform_bin, "sub-42")
    assert person.command[1:] == ["deploy", "prod"], "a person is asked before anything is applied"
    assert person.env[COMMIT_VARIABLE] == "a" * 40 and "TF_CLI_ARGS_plan" not in person.env
    ci = deploy.plan_for("deploy", "prod", environ | {"CI": "true"}, terraform_bin, "sub-42")
    assert ci.command[-1] == "--auto-approve"
    dev = deploy.plan_for("deploy", "dev", {"PATH": "/usr/bin"}, terraform_bin, "sub-42")
    assert COMMIT_VARIABLE not in dev.env, "dev follows its branch"
    bootstrap = deploy.plan_for("bootstrap", "prod", environ | {"CI": "true"}, terraform_bin, "sub-42")
    assert bootstrap.command[1:] == ["deploy", "prod-bootstrap"], "the platform team is always asked"


def test_ci_applies_exactly_the_plan_it_saved(tmp_path, checkout):
    terraform_bin, folder = tmp_path / "tf" / "terraform", tmp_path / "plan-prod"
    environ = {"PATH": "/usr/bin", COMMIT_VARIABLE: "b" * 40, "CI": "true"}
    saved = deploy.plan_for("plan-file", "prod", environ, terraform_bin, "sub-42", folder)
    steps = [command[:2] if command[0] != str(terraform_bin) else command[1:3] for command in saved.commands]
    assert steps == [
        [str(deploy.CDKTN), "synth"],
        ["cp", str(deploy.PROVIDERS_LOCK)],
        [f"-chdir={folder}", "init"],
        [f"-chdir={folder}", "plan"],
        [deploy.sys.executable, "-c"],
        [f"-chdir={folder}", "show"],
    ]
    folder.mkdir()
    subprocess.run(saved.commands[4], check=True)
    assert (folder / ".artifactignore").read_text() == ".terraform/\n", "the artifact leaves the providers out"
    assert saved.commands[1][-1] == str(folder / ".terraform.lock.hcl")
    assert "-lockfile=readonly" in saved.commands[2], "providers only as pinned"
    assert "-out=tfplan" in saved.commands[3] and saved.record == folder / "plan.txt"
    assert saved.env[COMMIT_VARIABLE] == "b" * 40

    with pytest.raises(
        deploy.DeployError, match=rf"^no saved plan in {folder} \(tfplan\): run make plan-file ENV=prod"
    ):
        deploy.plan_for("apply-plan", "prod", environ, terraform_bin, "sub-42", folder)
    (folder / "tfplan").write_bytes(b"plan")
    applied = deploy.plan_for("apply-plan", "prod", environ, terraform_bin, "sub-42", folder)
    assert [command[2] for command in applied.commands] == ["init", "apply"]
    assert applied.command[-1] == "tfplan", "the saved plan, nothing recomputed"


@pytest.fixture
def tools(tmp_path, monkeypatch, config_copy):
    """The required Terraform and a cdktn CLI in place, and the example values replaced
    (their !site tags dropped), so only the session is judged."""
    for path in config_copy.rglob("*.yml"):
        path.write_text(path.read_text().replace("!site ", ""))
    monkeypatch.setenv("HROB_CONFIG_DIR", str(config_copy))
    terraform_dir = tmp_path / "tools" / VERSION
    terraform_dir.mkdir(parents=True)
    (terraform_dir / "terraform").write_text(f'#!/bin/sh\necho \'{{"terraform_version": "{VERSION}"}}\'\n')
    (terraform_dir / "terraform").chmod(0o755)
    monkeypatch.setattr(terraform, "TOOLS", tmp_path / "tools")
    cli = tmp_path / "cdktn"
    cli.write_text("#!/bin/sh\n")
    monkeypatch.setattr(deploy, "CDKTN", cli)
    return tmp_path


def test_a_plan_before_the_bootstrap_says_so_and_records_it(tools, monkeypatch, capsys):
    monkeypatch.setattr(deploy, "REPO_ROOT", tools)
    plan = deploy.preflight("plan", "staging", fake_az(tools / "az", state=False))
    assert plan.commands == [] and "its state (" in plan.note and "staging-bootstrap first" in plan.note
    assert deploy.run(plan) == 0, "a pull request before the first deploy is not a failure"
    assert (tools / "cdktf.out" / "plan-staging.txt").read_text().strip() == plan.note
    assert capsys.readouterr().out.strip() == plan.note
    ready = deploy.preflight("plan", "staging", fake_az(tools / "az2", state=True))
    assert ready.command[1:] == ["diff", "staging"] and ready.env["ARM_SUBSCRIPTION_ID"] == "sub-42"


def test_a_deploy_by_someone_else_stops_before_anything_runs(tools, monkeypatch):
    with pytest.raises(deploy.DeployError, match=r"^staging is applied by hrob-staging-deployer"):
        deploy.preflight("deploy", "staging", fake_az(tools / "az", user="someone@plan.example"))


def test_everything_missing_is_named_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(terraform, "TOOLS", tmp_path / "no-tools")
    monkeypatch.setattr(deploy, "CDKTN", tmp_path / "no-cdktn")
    monkeypatch.setattr(deploy, "PROVIDERS_LOCK", tmp_path / "providers.lock.hcl")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert deploy.main(["plan-file", "staging"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("error: plan-file staging: ")
    for named in (f"Terraform {VERSION} (platform.terraform_version) is not installed", "example value(s) tagged !site",
                  "the cdktn CLI is not installed: run make cli", "is missing: run make providers-lock",
                  "the Azure CLI (az) is not installed"):  # fmt: skip
        assert named in err


def test_example_values_stop_a_deploy_and_are_named(tools, monkeypatch):
    monkeypatch.delenv("HROB_CONFIG_DIR")  # the repository's own configs: examples, tagged !site
    with pytest.raises(deploy.DeployError) as raised:
        deploy.preflight("deploy", "staging", fake_az(tools / "az"))
    (line,) = str(raised.value).splitlines()
    assert line.startswith("17 example value(s) tagged !site, which staging cannot be deployed with (")
    assert "configs/project.yml: platform.workspace_host, platform.workspace_resource_id" in line
    assert "configs/environments/staging.yml: deployment.service_principal.application_id" in line


def test_only_dev_is_destroyed_from_here(tools, monkeypatch):
    for env in ("staging", "prod"):
        with pytest.raises(deploy.DeployError, match=rf"^{env} is not destroyed from here \(only dev\)"):
            deploy.preflight("destroy", env, fake_az(tools / "az"))
    plan = deploy.preflight("destroy", "dev", fake_az(tools / "az2"))
    assert plan.command[1:] == ["destroy", "dev"], "cdktn lists what goes and asks first"


def test_the_installer_reads_the_version_the_stacks_require(capsys):
    assert terraform.main(["version"]) == 0
    assert capsys.readouterr().out.strip() == load_project("prod").platform.terraform_version


def test_the_providers_lock_pins_every_ci_platform_from_an_application_stack(tmp_path):
    stacks = tmp_path / "stacks"
    for name in ("dev", "dev-bootstrap"):
        (stacks / name).mkdir(parents=True)
    fake = tmp_path / "terraform"
    fake.write_text(
        '#!/bin/sh\nstack="${1#-chdir=}"\necho "$@" > "$stack/args"\n'
        'printf \'provider "registry.terraform.io/databricks/databricks" {}\\n\' > "$stack/.terraform.lock.hcl"\n'
    )
    fake.chmod(0o755)
    target = terraform.providers_lock(fake, stacks, tmp_path / "providers.lock.hcl")
    assert target.read_text().startswith('provider "registry.terraform.io/databricks/databricks"')
    args = (stacks / "dev" / "args").read_text().split()
    assert args[:3] == [f"-chdir={stacks / 'dev'}", "providers", "lock"], "an application stack, the one CI inits"
    assert {a.removeprefix("-platform=") for a in args[3:]} == set(terraform.LOCK_PLATFORMS)
    failing = tmp_path / "offline"
    failing.write_text('#!/bin/sh\necho "Error: Failed to query available provider packages" >&2\nexit 1\n')
    failing.chmod(0o755)
    with pytest.raises(terraform.TerraformError, match=r"providers lock failed: Error: Failed to query available"):
        terraform.providers_lock(failing, stacks, tmp_path / "other.hcl")
    assert not (tmp_path / "other.hcl").exists()
