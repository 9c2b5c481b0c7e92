"""`hrob run JOB --env ENV`: a deployed job, as synthesized, against the local runtime."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Annotated

import typer

from ml.cli.common import JsonOption
from ml.errors import HrobError
from ml.jobs.catalogue import JOB_NAMES


def parse_params(values: list[str]) -> dict[str, str]:
    params = {}
    for value in values:
        key, sep, setting = value.partition("=")
        if not sep or not key:
            raise HrobError(f"--param {value}: expected KEY=VALUE")
        params[key] = setting
    return params


def as_record(env: str, job: str, results, status: str) -> dict:
    return {
        "env": env,
        "job": job,
        "status": status,
        "tasks": [
            {"task": r.key, "status": r.status, "seconds": round(r.seconds, 1), "values": r.values or {}}
            for r in results
        ],
    }


def run(
    job: Annotated[str, typer.Argument(help=f"Job: {', '.join(JOB_NAMES)}.")],
    env: Annotated[
        str, typer.Option("--env", "-e", envvar="HROB_ENV", help="Stack to run: dev, staging or prod.")
    ] = "dev",
    task: Annotated[str | None, typer.Option("--task", help="Run only this task (earlier values remembered).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="Job parameter KEY=VALUE (repeatable).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run a Databricks job exactly as synthesized for the environment, on local Spark and MLflow."""
    from ml.runner.execute import TaskFailed
    from ml.runner.session import run as run_deployed

    params = parse_params(param or [])
    if not as_json:
        run_deployed(env, job, task, params)
        return
    # stdout carries the JSON alone: the tasks' own output goes to stderr
    try:
        with contextlib.redirect_stdout(sys.stderr):
            results = run_deployed(env, job, task, params)
    except TaskFailed as failed:
        print(json.dumps(as_record(env, job, failed.results, "failed"), indent=1))
        raise
    except HrobError as error:  # before any task ran: the record says why, stderr too
        print(json.dumps(as_record(env, job, [], "error") | {"error": str(error)}, indent=1))
        raise
    print(json.dumps(as_record(env, job, results, "succeeded"), indent=1))
