"""What every job task shares: arguments, settings, one-line errors, task values.

A task is `python ml/jobs/<task>.py --env=<env> --job-run-id=<id> [its own flags]`,
on Databricks (spark_python_task from Git) and locally (the runner) alike.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date
from typing import Any

from ml.errors import HrobError, user_error

Run = Callable[[argparse.Namespace, Any], dict[str, Any] | None]


def parse_date(value: str, flag: str) -> date:
    """A YYYY-MM-DD date; empty means today (so a job parameter may be left blank)."""
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HrobError(f"{flag}: '{value}' is not a date (expected YYYY-MM-DD)") from None


def run_task(
    name: str, configure: Callable[[argparse.ArgumentParser], None], run: Run, argv: list[str] | None = None
) -> None:
    parser = argparse.ArgumentParser(prog=f"ml/jobs/{name}.py", description=f"HROB job task: {name}")
    parser.add_argument("--env", required=True, help="Environment whose settings apply.")
    parser.add_argument("--job-run-id", default="", help="Databricks job run id ({{job.run_id}}).")
    configure(parser)
    args = parser.parse_args(argv)
    try:
        from ml.config.loader import load_settings
        from ml.runtime.parity import check_cluster
        from ml.runtime.task_values import publish

        settings = load_settings(args.env)
        runtime = settings.project.runtime
        check_cluster(runtime.name, runtime.provides, runtime.python)  # on a job cluster only
        publish(run(args, settings) or {})
    except Exception as error:
        known = user_error(error)
        if known is None:
            raise
        print(f"error: {name}: {known}", file=sys.stderr, flush=True)
        sys.exit(known.exit_code)
