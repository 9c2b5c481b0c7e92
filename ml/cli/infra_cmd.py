"""`hrob infra`: synthesize the Terraform for every deployed environment.

Synthesis runs `python -m infra.app` in a child process: `ml` never imports `infra`,
and jsii's Node.js process ends with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from ml.cli.common import ConfigDirOption, console, use_config_dir
from ml.runtime.paths import REPO_ROOT

app = typer.Typer(no_args_is_help=True, help="Synthesize the CDK Terrain stacks (cdktf.out/).")

DEFAULT_OUTDIR = REPO_ROOT / "cdktf.out"


def synthesize(outdir: Path = DEFAULT_OUTDIR, quiet: bool = False) -> int:
    env = {**os.environ, "CDKTF_OUTDIR": str(outdir), "CHECKPOINT_DISABLE": "1"}
    done = subprocess.run([sys.executable, "-m", "infra.app"], cwd=REPO_ROOT, env=env, capture_output=quiet, text=True)
    if quiet and done.returncode:
        sys.stderr.write(done.stderr.splitlines()[-1] + "\n" if done.stderr else "")
    return done.returncode


@app.command("synth")
def synth(
    outdir: Annotated[Path, typer.Option(help="Where to write the stacks.")] = DEFAULT_OUTDIR,
    config_dir: ConfigDirOption = None,
) -> None:
    """Write cdktf.out/stacks/<env>/cdk.tf.json for dev, staging and prod (no credentials needed)."""
    use_config_dir(config_dir)
    code = synthesize(outdir.resolve())
    if code:
        raise typer.Exit(code)
    stacks = sorted(p.name for p in (outdir / "stacks").iterdir())
    console.print(f"[green]ok[/green] stacks {', '.join(stacks)} in {outdir}/stacks")
