"""The security scan of the synthesized stacks: checkov, offline, with the skips in
infra/checkov_skips.yml (each with its reason). `make scan` and the tests run it alike.

checkov's Terraform-JSON parser rejects a file whose `terraform` block holds a plain
string (it expects blocks only), so it is given the stacks without
`terraform.required_version`, a setting no check reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from ml.runtime.paths import REPO_ROOT

SKIPS_FILE = REPO_ROOT / "infra" / "checkov_skips.yml"
CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"


def skips() -> dict[str, str]:
    return yaml.safe_load(SKIPS_FILE.read_text())


def scannable(stack: dict) -> dict:
    copy = json.loads(json.dumps(stack))
    copy.get("terraform", {}).pop("required_version", None)
    return copy


def prepare(stacks: dict[str, dict], folder: Path) -> Path:
    """One folder per stack under `folder`, as checkov reads them."""
    for env, stack in stacks.items():
        (folder / env).mkdir(parents=True, exist_ok=True)
        (folder / env / "cdk.tf.json").write_text(json.dumps(scannable(stack)))
    return folder


def checkov(folder: Path, checkov_bin: Path = CHECKOV, skip: list[str] | None = None, *extra: str):
    """checkov over `folder`; `extra` flags (e.g. "-o", "json": output captured)."""
    # The stacks are Terraform JSON: checkov's other frameworks find nothing in them (same
    # results, measured 15.7 s -> 11.4 s)
    command = [str(checkov_bin), "-d", str(folder), "--framework", "terraform_json", "--skip-download", *extra]
    if skip:
        command += ["--skip-check", ",".join(skip)]
    return subprocess.run(command, capture_output="-o" in extra, text=True, timeout=600)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    stacks_dir = REPO_ROOT / "cdktf.out" / "stacks"
    stacks = {p.name: json.loads((p / "cdk.tf.json").read_text()) for p in sorted(stacks_dir.iterdir())}
    with tempfile.TemporaryDirectory(prefix="hrob-scan-") as tmp:
        folder = prepare(stacks, Path(tmp))
        done = checkov(folder, Path(args[0]) if args else CHECKOV, list(skips()), "--quiet", "--compact")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
