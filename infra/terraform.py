"""The Terraform every plan and deploy runs, installed at the version the stacks require.

`make terraform` (the pipelines run it before any plan or deploy: Azure DevOps agents
ship no Terraform) downloads `configs/project.yml` platform.terraform_version from
HashiCorp's releases (or HROB_TERRAFORM_MIRROR), checks the archive against the
release's SHA256SUMS and unpacks it into .tools/terraform/<version>/. Anything short of
a verified binary is removed and reported in one line.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import shutil
import stat
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ml.errors import HrobError
from ml.runtime.paths import REPO_ROOT

RELEASES = "https://releases.hashicorp.com/terraform"
MIRROR_VARIABLE = "HROB_TERRAFORM_MIRROR"
TOOLS = REPO_ROOT / ".tools" / "terraform"


class TerraformError(HrobError):
    pass


def binary(version: str, tools: Path | None = None) -> Path:
    return (tools or TOOLS) / version / "terraform"


def platform_name() -> str:
    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower()
    )
    system = {"linux": "linux", "darwin": "darwin"}.get(sys.platform)
    if machine is None or system is None:
        raise TerraformError(f"no Terraform build for {sys.platform}/{platform.machine()}: install it yourself")
    return f"{system}_{machine}"


def _fetch(url: str, timeout: float = 60) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise TerraformError(f"cannot download {url}: HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TerraformError(f"cannot download {url}: {reason}") from None


def install(version: str, tools: Path | None = None, mirror: str | None = None, system: str | None = None) -> Path:
    """The verified binary for `version`, downloading it unless it is already there."""
    target = binary(version, tools)
    if target.is_file():
        return target
    base = (mirror or os.environ.get(MIRROR_VARIABLE) or RELEASES).rstrip("/")
    archive_name = f"terraform_{version}_{system or platform_name()}.zip"
    sums = _fetch(f"{base}/{version}/terraform_{version}_SHA256SUMS").decode()
    expected = next((line.split()[0] for line in sums.splitlines() if line.endswith(f"  {archive_name}")), None)
    if expected is None:
        raise TerraformError(f"Terraform {version}'s SHA256SUMS lists no {archive_name}")
    archive = _fetch(f"{base}/{version}/{archive_name}")
    actual = hashlib.sha256(archive).hexdigest()
    if actual != expected:
        raise TerraformError(
            f"{archive_name}: SHA-256 {actual[:12]}... does not match the release's {expected[:12]}..."
        )
    staging = target.parent.with_name(f".{version}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as unpacked:
            unpacked.extract("terraform", staging)
        (staging / "terraform").chmod((staging / "terraform").stat().st_mode | stat.S_IXUSR | stat.S_IXGRP)
        shutil.rmtree(target.parent, ignore_errors=True)
        staging.replace(target.parent)
    except (KeyError, zipfile.BadZipFile, OSError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise TerraformError(f"{archive_name}: cannot unpack terraform ({error})") from None
    return target


# The platforms CI agents and people apply from: the lock carries each one's checksums
LOCK_PLATFORMS = ("linux_amd64", "darwin_arm64", "darwin_amd64")


def providers_lock(terraform: Path, stacks: Path, target: Path) -> Path:
    """Pin the application stacks' providers (their versions and every platform's checksums)
    into `target`, which every CI init then accepts read-only. Needs registry.terraform.io."""
    import subprocess

    stack = next((p for p in sorted(stacks.iterdir()) if not p.name.endswith("-bootstrap")), None)
    if stack is None:
        raise TerraformError(f"no synthesized application stack in {stacks}: run hrob infra synth")
    platforms = [f"-platform={p}" for p in LOCK_PLATFORMS]
    done = subprocess.run(
        [str(terraform), f"-chdir={stack}", "providers", "lock", *platforms], capture_output=True, text=True
    )
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise TerraformError(f"terraform providers lock failed: {last[-1] if last else done.returncode}")
    shutil.copyfile(stack / ".terraform.lock.hcl", target)
    return target


def main(argv: list[str] | None = None) -> int:
    from ml.config.loader import load_project

    argv = sys.argv[1:] if argv is None else argv
    try:
        version = load_project("dev").platform.terraform_version
        if argv == ["version"]:
            print(version)
            return 0
        path = install(version)
        if argv == ["providers-lock"]:
            target = providers_lock(
                path, REPO_ROOT / "cdktf.out" / "stacks", REPO_ROOT / "infra" / "providers.lock.hcl"
            )
            print(f"providers pinned in {target.relative_to(REPO_ROOT)}: commit it")
            return 0
    except HrobError as error:
        print(f"error: terraform: {error}", file=sys.stderr)
        return error.exit_code
    print(f"Terraform {version}: {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
