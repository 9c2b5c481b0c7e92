"""Running a deployed job's tasks in order, as a job cluster would.

Each task runs `python <python_file> <resolved parameters>` from the repository root,
its output streamed as it comes; values it publishes (ml/runtime/task_values.py) feed
the references of later tasks. The first failure stops the run, naming the task.

By default every task is its own process with its own local Spark. `in_process` runs
the entry points in this process instead, on one Spark session, as Python tasks on a
Databricks job cluster share its driver: each local Spark start-up costs 10-15 s of a
task that may run for 20 (`hrob demo` and the end-to-end test use it).
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ml.errors import HrobError
from ml.runner.deployed import DeployedJob, RunnerError
from ml.runner.references import RunContext
from ml.runtime.paths import REPO_ROOT
from ml.runtime.task_values import ENV_VAR


class TaskFailed(HrobError):
    exit_code = 1

    def __init__(self, message: str, results: list[TaskResult]):
        super().__init__(message)
        self.results = results


@dataclass
class TaskResult:
    key: str
    status: str  # succeeded | failed | skipped (after a failure) | excluded (a condition not met)
    seconds: float
    exit_status: int | None = None
    values: dict | None = None


def context_for(job: DeployedJob, overrides: dict[str, str], run_id: str | None = None) -> RunContext:
    unknown = sorted(set(overrides) - set(job.parameters))
    if unknown:
        raise RunnerError(
            f"job {job.key} has no parameter '{unknown[0]}' (parameters: {', '.join(sorted(job.parameters)) or 'none'})"
        )
    context = RunContext(run_id or str(uuid.uuid4().int % 10**12), datetime.now(UTC), {})
    for name, default in job.parameters.items():
        context.parameters[name] = context.resolve(overrides.get(name, default), f"job parameter {name}")
    return context


def run_job(
    job: DeployedJob,
    overrides: dict[str, str] | None = None,
    only: str | None = None,
    remembered: dict[str, dict[str, str]] | None = None,
    echo=print,
    in_process: bool = False,
    start_job=None,
) -> list[TaskResult]:
    """Run the job (or one task of it). `remembered` holds task values from an earlier
    run, so a single task can be rerun as a Databricks repair run would. `start_job(name)`
    runs another job of the environment (a run-job task) with `params`, the task's job
    parameters resolved."""
    tasks = job.ordered(only)
    context = context_for(job, overrides or {})
    context.task_values.update(remembered or {})
    results: list[TaskResult] = []
    outcome: dict[str, str] = {}  # condition task -> "true" / "false"
    excluded: set[str] = set()
    for task in tasks:
        where = f"task {task.key}"
        # As Databricks: a task whose condition came out the other way, or that depends on
        # such a task, is excluded; the run still succeeds.
        if any(outcome.get(key) not in (None, wanted) for key, wanted in task.outcomes) or excluded & set(
            task.depends_on
        ):
            excluded.add(task.key)
            echo(f"[dim]- {job.key} / {task.key}: excluded (condition not met)[/dim]")
            results.append(TaskResult(task.key, "excluded", 0.0))
            continue
        if task.condition is not None:
            left, op, right = task.condition
            left, right = context.resolve(left, where), context.resolve(right, where)
            outcome[task.key] = "true" if compare(left, op, right) else "false"
            echo(f"[bold]▶ {job.key} / {task.key}[/bold]  {left!r} {op} {right!r}: {outcome[task.key]}")
            context.task_values[task.key] = {}
            results.append(TaskResult(task.key, "succeeded", 0.0, 0, {"outcome": outcome[task.key]}))
            continue
        if task.run_job is not None:
            if start_job is None:
                raise RunnerError(f"{where}: starts job {task.run_job}, and this run cannot start jobs")
            params = {name: context.resolve(value, where) for name, value in task.run_job_parameters}
            shown = " ".join(f"{name}={value}" for name, value in params.items())
            echo(f"[bold]▶ {job.key} / {task.key}[/bold]  run job {task.run_job} {shown}".rstrip())
            started = time.perf_counter()
            try:
                start_job(task.run_job, params)
            except TaskFailed as failed:
                results.append(TaskResult(task.key, "failed", time.perf_counter() - started, 1))
                results += [TaskResult(t.key, "skipped", 0.0) for t in tasks[len(results) :]]
                raise TaskFailed(f"job {job.key}: task {task.key}: {failed}", results) from None
            results.append(TaskResult(task.key, "succeeded", time.perf_counter() - started, 0, {}))
            continue
        arguments = [context.resolve(p, where) for p in task.parameters]
        script = REPO_ROOT / task.python_file
        if not script.is_file():
            raise RunnerError(f"{where}: entry point {task.python_file} does not exist")
        echo(f"[bold]▶ {job.key} / {task.key}[/bold]  python {task.python_file} {' '.join(arguments)}")
        started = time.perf_counter()
        code, values = run_task(script, arguments, in_process)
        seconds = time.perf_counter() - started
        if code != 0:
            results.append(TaskResult(task.key, "failed", seconds, code))
            results += [TaskResult(t.key, "skipped", 0.0) for t in tasks[len(results) :]]
            raise TaskFailed(f"job {job.key}: task {task.key} failed with exit status {code}", results)
        context.task_values[task.key] = values
        results.append(TaskResult(task.key, "succeeded", seconds, 0, values))
    return results


OPERATORS = {
    "EQUAL_TO": lambda a, b: a == b,
    "NOT_EQUAL": lambda a, b: a != b,
    "GREATER_THAN": lambda a, b: a > b,
    "GREATER_THAN_OR_EQUAL": lambda a, b: a >= b,
    "LESS_THAN": lambda a, b: a < b,
    "LESS_THAN_OR_EQUAL": lambda a, b: a <= b,
}


def compare(left: str, op: str, right: str) -> bool:
    """A condition task's comparison: numbers when both sides are numbers, else strings
    (equality only, as Databricks allows)."""
    if op not in OPERATORS:
        raise RunnerError(f"condition operator {op} is not one of {', '.join(OPERATORS)}")
    try:
        return OPERATORS[op](float(left), float(right))
    except ValueError:
        if op not in ("EQUAL_TO", "NOT_EQUAL"):
            raise RunnerError(f"condition {left!r} {op} {right!r}: {op} compares numbers only") from None
        return OPERATORS[op](left, right)


def run_task(script: Path, arguments: list[str], in_process: bool = False) -> tuple[int, dict[str, str]]:
    """One task's exit status and the values it published, in either mode."""
    with tempfile.TemporaryDirectory(prefix="hrob-task-") as tmp:
        values_file = Path(tmp) / "values.json"
        code = (_run_in_process if in_process else _run_process)(script, arguments, values_file)
        values = json.loads(values_file.read_text()) if values_file.exists() else {}
    return code, {k: str(v) for k, v in values.items()}


def _run_process(script: Path, arguments: list[str], values_file: Path) -> int:
    env = {**os.environ, ENV_VAR: str(values_file), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(script), *arguments]
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    while chunk := os.read(process.stdout.fileno(), 65536):
        # Streamed as it comes (progress bars redraw with \r, not newlines).
        if out is not None:
            out.write(chunk)
            out.flush()
        else:
            sys.stdout.write(chunk.decode(errors="replace"))
    return process.wait()


def _run_in_process(script: Path, arguments: list[str], values_file: Path) -> int:
    """The entry point run as `__main__` here; its exit status as a process would report it."""
    saved_argv, saved_values = sys.argv, os.environ.get(ENV_VAR)
    sys.argv = [str(script), *arguments]
    os.environ[ENV_VAR] = str(values_file)
    try:
        runpy.run_path(str(script), run_name="__main__")
        return 0
    except SystemExit as exit_:
        if not isinstance(exit_.code, int | None):
            print(exit_.code, file=sys.stderr)
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except Exception:  # a task's crash is its failure, not the runner's
        traceback.print_exc()
        return 1
    finally:
        sys.argv = saved_argv
        if saved_values is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = saved_values
        sys.stdout.flush()
        sys.stderr.flush()
