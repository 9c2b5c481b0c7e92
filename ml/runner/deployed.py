"""Jobs as deployed: read from the synthesized stack (cdktf.out/stacks/<env>/cdk.tf.json).

The runner never reads ml/jobs/catalogue.py: what it runs is what Terraform would
create, so a wrong entry point, parameter or task order fails here first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ml.errors import HrobError
from ml.runtime.paths import REPO_ROOT

OUTDIR = REPO_ROOT / "cdktf.out"
# What a stack is synthesized from: newer than the stack file means synthesize again.
SYNTH_INPUTS = ("infra", "configs", "ml/jobs/catalogue.py", "cdktf.json", "pyproject.toml")


class RunnerError(HrobError):
    """A job, task or parameter the runner cannot resolve."""


@dataclass(frozen=True)
class DeployedTask:
    key: str
    python_file: str  # empty for a condition or run-job task
    parameters: tuple[str, ...]
    depends_on: tuple[str, ...]
    outcomes: tuple[tuple[str, str], ...] = ()  # (condition task, the outcome this task needs)
    condition: tuple[str, str, str] | None = None  # (left, op, right) of a condition task
    run_job: str | None = None  # the job (its `job` tag) a run-job task starts
    run_job_parameters: tuple[tuple[str, str], ...] = ()  # what it passes that job (references unresolved)


@dataclass(frozen=True)
class DeployedJob:
    key: str  # the job's `job` tag: features, training, inference
    name: str  # as shown in the workspace
    parameters: dict[str, str]  # name -> default
    tasks: tuple[DeployedTask, ...]

    def ordered(self, only: str | None = None) -> list[DeployedTask]:
        """Tasks in dependency order (declaration order among ready tasks), or just `only`."""
        keys = [t.key for t in self.tasks]
        if only is not None:
            if only not in keys:
                raise RunnerError(f"job {self.key} has no task '{only}' (tasks: {', '.join(keys)})")
            return [t for t in self.tasks if t.key == only]
        done: list[DeployedTask] = []
        pending = list(self.tasks)
        while pending:
            ready = [t for t in pending if all(d in {x.key for x in done} for d in t.depends_on)]
            if not ready:
                unknown = sorted({d for t in pending for d in t.depends_on} - set(keys))
                what = f"unknown tasks {unknown}" if unknown else "a cycle"
                raise RunnerError(f"job {self.key}: task dependencies name {what}: {', '.join(t.key for t in pending)}")
            done.append(ready[0])
            pending.remove(ready[0])
        return done


def stack_path(env: str, outdir: Path = OUTDIR) -> Path:
    return outdir / "stacks" / env / "cdk.tf.json"


def newest_input(root: Path = REPO_ROOT) -> float:
    newest = 0.0
    for name in SYNTH_INPUTS:
        path = root / name
        files = (
            [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        )
        newest = max([newest, *(p.stat().st_mtime for p in files)])
    return newest


def is_stale(env: str, outdir: Path = OUTDIR) -> bool:
    path = stack_path(env, outdir)
    return not path.exists() or path.stat().st_mtime < newest_input()


def read_jobs(path: Path) -> dict[str, DeployedJob]:
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise RunnerError(f"{path}: cannot read the synthesized stack ({error})") from None
    resources = document.get("resource", {}).get("databricks_job", {})
    # a run-job task names its job by Terraform reference: ${databricks_job.<logical id>.id}
    by_reference = {
        f"${{databricks_job.{logical}.id}}": r.get("tags", {}).get("job") or r["name"]
        for logical, r in resources.items()
    }
    jobs = {}
    for resource in resources.values():
        key = resource.get("tags", {}).get("job") or resource["name"]
        tasks = tuple(_task(t, key, by_reference) for t in resource.get("task", []))
        parameters = {p["name"]: p.get("default", "") for p in resource.get("parameter", [])}
        jobs[key] = DeployedJob(key, resource["name"], parameters, tasks)
    return jobs


def _task(task: dict, job: str, by_reference: dict[str, str]) -> DeployedTask:
    depends = task.get("depends_on", [])
    common = {
        "key": task["task_key"],
        "depends_on": tuple(d["task_key"] for d in depends),
        "outcomes": tuple((d["task_key"], d["outcome"]) for d in depends if "outcome" in d),
    }
    if "spark_python_task" in task:
        python = task["spark_python_task"]
        return DeployedTask(python_file=python["python_file"], parameters=tuple(python.get("parameters", [])), **common)
    if "condition_task" in task:
        c = task["condition_task"]
        return DeployedTask(python_file="", parameters=(), condition=(c["left"], c["op"], c["right"]), **common)
    if "run_job_task" in task:
        reference = str(task["run_job_task"]["job_id"])
        if reference not in by_reference:
            raise RunnerError(f"job {job}: task {task['task_key']} starts {reference}, no job of this stack")
        passed = tuple(task["run_job_task"].get("job_parameters", {}).items())
        return DeployedTask(
            python_file="", parameters=(), run_job=by_reference[reference], run_job_parameters=passed, **common
        )
    raise RunnerError(f"job {job}: task {task['task_key']} is of a kind the runner cannot run ({sorted(task)})")


def find_job(env: str, job: str, outdir: Path = OUTDIR) -> DeployedJob:
    jobs = read_jobs(stack_path(env, outdir))
    if job not in jobs:
        raise RunnerError(f"environment {env} has no job '{job}' (jobs: {', '.join(sorted(jobs))})")
    return jobs[job]
