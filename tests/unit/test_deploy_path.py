"""The deploy path up to cdktn and Terraform, which cannot run here: the Terraform
installer (against a local stand-in of HashiCorp's releases), the checks `make
plan|diff|deploy` run first, each a one-line error, and the cdktn run they build."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from infra import deploy, terraform
from infra.props import COMMIT_VARIABLE
from ml.config.loader import load_project

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
    with pytest.raises(deploy.DeployError, match=rf"^Terraform {VERSION} .* is not installed: run make terraform$"):
        deploy.check_terraform(VERSION, tmp_path)
    other = tmp_path / VERSION / "terraform"
    other.parent.mkdir()
    other.write_text('#!/bin/sh\necho \'{"terraform_version": "1.5.7"}\'\n')
    other.chmod(0o755)
    with pytest.raises(
        deploy.DeployError, match=rf"is Terraform 1.5.7, the stacks require {VERSION}: run make terraform"
    ):
        deploy.check_terraform(VERSION, tmp_path)


def fake_az(folder: Path, logged_in: bool = True) -> dict[str, str]:
    folder.mkdir(exist_ok=True)
    az = folder / "az"
    body = 'echo \'{"id": "sub-42"}\'' if logged_in else "echo \"ERROR: Please run 'az login'\" >&2; exit 1"
    az.write_text(f"#!/bin/sh\n{body}\n")
    az.chmod(0o755)
    return {"PATH": f"{folder}:/usr/bin:/bin"}


def test_credentials_are_the_azure_cli_session_and_nothing_beside_it(tmp_path):
    assert deploy.check_credentials("staging", fake_az(tmp_path / "ok")) == "sub-42"
    with pytest.raises(deploy.DeployError, match=r"^no Azure CLI session: run az login \(CI: AzureCLI@2 with the"):
        deploy.check_credentials("staging", fake_az(tmp_path / "out", logged_in=False))
    with pytest.raises(deploy.DeployError, match=r"^the Azure CLI \(az\) is not installed"):
        deploy.check_credentials("staging", {"PATH": str(tmp_path / "empty")})
    both = fake_az(tmp_path / "ok") | {"ARM_CLIENT_SECRET": "s", "DATABRICKS_TOKEN": "dapi"}
    with pytest.raises(
        deploy.DeployError, match=r"^ARM_CLIENT_SECRET, DATABRICKS_TOKEN set beside the Azure CLI session"
    ):
        deploy.check_credentials("staging", both)


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
    assert plan.command[1:] == ["diff", "staging"] and plan.env["TF_CLI_ARGS_plan"] == "-lock=false"
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


def test_make_deploy_without_terraform_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(terraform, "TOOLS", tmp_path / "no-tools")
    assert deploy.main(["deploy", "staging"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: deploy staging: Terraform {VERSION} (platform.terraform_version) is not installed: run make terraform"
    )


def test_the_installer_reads_the_version_the_stacks_require(capsys):
    assert terraform.main(["version"]) == 0
    assert capsys.readouterr().out.strip() == load_project("prod").platform.terraform_version
