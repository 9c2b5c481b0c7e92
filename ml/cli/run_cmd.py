"""`hrob run ENV JOB`: a deployed job, as synthesized, against the local runtime."""

from __future__ import annotations

from typing import Annotated

import typer

from ml.errors import HrobError


def parse_params(values: list[str]) -> dict[str, str]:
    params = {}
    for value in values:
        key, sep, setting = value.partition("=")
        if not sep or not key:
            raise HrobError(f"--param {value}: expected KEY=VALUE")
        params[key] = setting
    return params


def run(
    env: Annotated[str, typer.Argument(help="Stack to run: dev, staging or prod.")],
    job: Annotated[str, typer.Argument(help="Job: features, training or inference.")],
    task: Annotated[str | None, typer.Option("--task", help="Run only this task (earlier values remembered).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="Job parameter KEY=VALUE (repeatable).")] = None,
) -> None:
    """Run a Databricks job exactly as synthesized for ENV, on local Spark and MLflow."""
    from ml.runner.session import run as run_deployed

    run_deployed(env, job, task, parse_params(param or []))
