"""`hrob infra`: synthesize the Terraform for every deployed environment.

Synthesis runs `python -m infra.app` in a child process: `ml` never imports `infra`,
and jsii's Node.js process ends with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from ml.cli.common import ConfigDirOption, JsonOption, console, use_config_dir
from ml.runtime.paths import REPO_ROOT

app = typer.Typer(no_args_is_help=True, help="Synthesize the CDK Terrain stacks (cdktf.out/).")

DEFAULT_OUTDIR = REPO_ROOT / "cdktf.out"


def synthesize(outdir: Path = DEFAULT_OUTDIR, quiet: bool = False) -> int:
    """Synthesize every stack; quiet: nothing printed, and a failure raised as its own line."""
    env = {**os.environ, "CDKTF_OUTDIR": str(outdir), "CHECKPOINT_DISABLE": "1"}
    done = subprocess.run([sys.executable, "-m", "infra.app"], cwd=REPO_ROOT, env=env, capture_output=quiet, text=True)
    if quiet and done.returncode:
        from ml.errors import ConfigError

        lines = [line for line in (done.stderr or "").splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error: ")]
        why = (errors or lines or ["no message: run hrob infra synth"])[-1].removeprefix("error: ")
        raise ConfigError(f"the stacks cannot be synthesized: {why}")
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


@app.command("summary")
def summary(
    env: Annotated[str, typer.Option("--env", "-e", help="Environment: dev, staging or prod.")] = "staging",
    as_json: JsonOption = False,
    config_dir: ConfigDirOption = None,
) -> None:
    """What ENV's two stacks deploy (jobs and their starts, identities, grants, Azure resources),
    from the synthesized JSON: no credentials needed."""
    from infra.summary import lines, read, summarize
    from ml.config.loader import load_settings
    from ml.runner.session import ensure_stack

    use_config_dir(config_dir)
    settings = load_settings(env, config_dir)
    path = ensure_stack(env)  # synthesized first when missing or stale
    identities = settings.environment.deployment.identities() if settings.environment.deployment else {}
    names = {i.application_id: i.display_name for i in identities.values()}
    app_stack, bootstrap = read(path.parent.parent, env)
    result = summarize(app_stack, bootstrap, names)
    if as_json:
        print(json.dumps(result, indent=1))
        return
    for line in lines(env, result):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
