"""`hrob run`: find the stack (synthesizing it when missing or stale), run the job, and
print a summary; task values are remembered per environment and job so one task can be
rerun alone."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ml.cli.common import terminal_width
from ml.config.loader import environments
from ml.runner.deployed import OUTDIR, RunnerError, find_job, is_stale, stack_path
from ml.runner.execute import TaskFailed, TaskResult, run_job
from ml.runtime.paths import local_dir

console = Console(highlight=False, width=terminal_width(1))  # not cut off a terminal


def deployed_environments() -> list[str]:
    return [env for env in environments() if env != "local"]


def ensure_stack(env: str, outdir: Path = OUTDIR) -> Path:
    valid = deployed_environments()
    if env not in valid:
        raise RunnerError(f"unknown environment '{env}' (environments: {', '.join(valid)})")
    if is_stale(env, outdir):
        from ml.cli.infra_cmd import synthesize

        console.print(
            f"[dim]synthesizing the stacks ({stack_path(env, outdir).relative_to(outdir.parent)} is "
            "missing or older than its sources)[/dim]"
        )
        synthesize(outdir, quiet=True)  # a failure is its own line: the file, field and what is wrong
    return stack_path(env, outdir)


def _memory(env: str, job: str) -> Path:
    return local_dir("runner", env) / f"{job}_task_values.json"


def run(
    env: str, job: str, task: str | None = None, params: dict[str, str] | None = None, in_process: bool = False
) -> list[TaskResult]:
    ensure_stack(env)
    deployed = find_job(env, job)
    memory = _memory(env, job)
    remembered = json.loads(memory.read_text()) if memory.exists() else {}
    try:
        results = run_job(
            deployed,
            params or {},
            task,
            remembered,
            echo=console.print,
            in_process=in_process,
            start_job=lambda other, passed: run(env, other, params=passed, in_process=in_process),
        )
    except TaskFailed as failed:
        summary(deployed.key, failed.results)
        raise
    remembered.update({r.key: r.values for r in results if r.values is not None})
    memory.write_text(json.dumps(remembered, indent=1))
    summary(deployed.key, results)
    return results


def summary(job: str, results: list[TaskResult]) -> None:
    table = Table(title=f"job {job}", title_justify="left")
    table.add_column("task")
    table.add_column("status")
    table.add_column("duration", justify="right")
    colours = {"succeeded": "green", "failed": "red", "skipped": "yellow", "excluded": "dim"}
    for r in results:
        table.add_row(r.key, f"[{colours[r.status]}]{r.status}[/]", f"{r.seconds:.0f} s")
    console.print(table)
