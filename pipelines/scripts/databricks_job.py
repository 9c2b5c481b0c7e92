"""Trigger a deployed Databricks job and wait for it, or check that the jobs exist as deployed.

  python pipelines/scripts/databricks_job.py run --env staging --job training [--timeout 14400]
  python pipelines/scripts/databricks_job.py smoke --env prod

Talks to Databricks through databricks-sdk, authenticated one way: the Azure CLI session
that the pipeline step (AzureCLI@2 with the environment's service connection) or a
developer (`az login`) opened, against DATABRICKS_HOST (default: the workspace in
configs/project.yml). The SDK asks the CLI for a new token whenever the current one
expires; calls are retried on 429 and 5xx (a run is started with an idempotency token, so
a retried start never starts two runs); a run still going at the timeout is cancelled.
Jobs are found by the name the stack gives them and checked against the environment's
configuration, so the smoke check and the stack cannot disagree.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))  # job names and schedules come from the project itself

AUTH_TYPE = "azure-cli"
# Credentials of another kind beside the CLI session: the SDK would refuse to choose (or
# choose silently), so the script stops first and names them.
OTHER_CREDENTIALS = (
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_USERNAME",
    "DATABRICKS_PASSWORD",
    "ARM_CLIENT_SECRET",
    "ARM_CLIENT_CERTIFICATE_PATH",
    "ARM_OIDC_TOKEN",
)
TERMINAL = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}
RETRY_FOR = timedelta(minutes=10)  # how long one call keeps retrying transient errors


class JobError(Exception):
    pass


class SetupError(JobError):
    """The machine's set-up, not the job: a second credential, say."""


def workspace(host: str, **config: Any):
    """A WorkspaceClient that authenticates through the Azure CLI and nothing else."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

    others = [name for name in OTHER_CREDENTIALS if os.environ.get(name)]
    if others:
        raise SetupError(
            f"{', '.join(others)} set beside the Azure CLI session: one authentication method per "
            "process (unset them; CI logs in with AzureCLI@2)"
        )
    from ml.runtime.remote import probe, timeout

    probe(host, "the workspace")
    # Each request waits HROB_REMOTE_TIMEOUT seconds, and the SDK retries for as long (its
    # default: five minutes of retries before an unreachable host is said to be one).
    seconds = int(timeout())
    config = {"http_timeout_seconds": seconds, "retry_timeout_seconds": seconds, **config}
    return WorkspaceClient(config=Config(host=host, auth_type=AUTH_TYPE, **config))


def transient(error: BaseException) -> str | None:
    """Why an error is worth retrying: throttling (429) or a server-side failure (5xx)."""
    from databricks.sdk import errors

    kinds = (errors.TooManyRequests, errors.InternalError, errors.TemporarilyUnavailable, errors.DeadlineExceeded)
    if isinstance(error, kinds):
        return type(error).__name__
    # The SDK maps every 4xx it can meet to a class; an unmapped status (502, 505-599) stays generic.
    if type(error) is errors.DatabricksError:
        return "server error"
    return None


def retrying(action: Callable[[], Any], clock=None) -> Any:
    from databricks.sdk.retries import retried

    try:
        return retried(is_retryable=transient, timeout=RETRY_FOR, clock=clock)(action)()
    except TimeoutError as error:
        raise JobError(f"Databricks kept failing for {RETRY_FOR}: {error.__cause__}") from None


def job_name(env: str, job: str) -> str:
    from ml.jobs.catalogue import deployed_name  # the name the stack gives the job

    return deployed_name(env, job)


def find(w, name: str, clock=None):
    found = retrying(lambda: [j for j in w.jobs.list(name=name) if j.settings and j.settings.name == name], clock)
    if len(found) != 1:
        raise JobError(f"expected one job named '{name}', found {len(found)}: is the stack deployed?")
    return found[0]


def wait(w, run_id: int, timeout: float, poll: float = 30, clock=None, monotonic=time.monotonic, sleep=time.sleep):
    """The run once it ends; cancelled (and an error) when it outlives `timeout` seconds."""
    deadline = monotonic() + timeout
    while True:
        run = retrying(lambda: w.jobs.get_run(run_id), clock)
        state = run.state.life_cycle_state.value if run.state and run.state.life_cycle_state else "?"
        if state in TERMINAL:
            return run
        if monotonic() >= deadline:
            retrying(lambda: w.jobs.cancel_run(run_id), clock)
            raise JobError(f"run {run_id} still {state} after {timeout:.0f}s: cancelled")
        sleep(poll)


def run_job(w, env: str, job: str, timeout: float, parameters: dict[str, str], poll: float = 30, echo=print, **timing):
    name = job_name(env, job)
    found = find(w, name, timing.get("clock"))
    token = str(uuid.uuid4())  # the same token on a retry: Databricks starts the run once
    started = retrying(
        lambda: w.jobs.run_now(job_id=found.job_id, job_parameters=parameters or None, idempotency_token=token),
        timing.get("clock"),
    )
    run_id = started.run_id
    echo(f"started {name} (job {found.job_id}), run {run_id}")
    run = wait(w, run_id, timeout, poll, **timing)
    state = run.state
    result = state.result_state.value if state.result_state else ""
    tasks = ", ".join(
        f"{t.task_key}={t.state.result_state.value if t.state and t.state.result_state else '?'}"
        for t in run.tasks or []
    )
    echo(f"run {run_id}: {state.life_cycle_state.value} {result} ({tasks}) {run.run_page_url or ''}")
    if result != "SUCCESS":
        ended = result or state.life_cycle_state.value
        raise JobError(f"run {run_id} of {name} ended {ended}: {state.state_message or ''}".strip())
    return run


def expected_schedules(env: str) -> dict[str, dict]:
    """What starts each job: a schedule, or a table update ({"table_update": [...], "paused": ...})."""
    from ml.config.loader import load_settings
    from ml.jobs.catalogue import JOBS

    settings = load_settings(env)
    expected = {}
    for name, job in settings.environment.deployment.jobs.items():
        if job.schedule:
            expected[name] = job.schedule.model_dump()
        elif job.on_table_update:
            table = f"{settings.namespace}.{JOBS[name].after_table}"
            expected[name] = {"table_update": [table], "paused": job.on_table_update.paused}
    return expected


def _trigger_problem(name: str, found, want: dict) -> str | None:
    trigger = found.settings.trigger
    tables = list(trigger.table_update.table_names) if trigger and trigger.table_update else None
    paused = trigger.pause_status.value if trigger and trigger.pause_status else None
    expected_pause = "PAUSED" if want["paused"] else "UNPAUSED"
    if tables != want["table_update"] or paused != expected_pause:
        return (
            f"{name}: trigger on table update of {tables} ({paused}), "
            f"expected {want['table_update']} ({expected_pause})"
        )
    return None


def smoke(w, env: str, expected: dict[str, dict], echo=print, clock=None) -> None:
    problems = []
    for job, schedule in expected.items():
        name = job_name(env, job)
        try:
            found = find(w, name, clock)
        except JobError as error:
            problems.append(str(error))
            continue
        if "table_update" in schedule:
            problem = _trigger_problem(name, found, schedule)
            if problem:
                problems.append(problem)
            else:
                echo(f"ok {name}: on update of {', '.join(schedule['table_update'])}")
            continue
        actual = found.settings.schedule
        have = {
            "quartz_cron_expression": actual.quartz_cron_expression if actual else None,
            "timezone_id": actual.timezone_id if actual else None,
            "pause_status": actual.pause_status.value if actual and actual.pause_status else None,
        }
        want = {
            "quartz_cron_expression": schedule["quartz_cron"],
            "timezone_id": schedule["timezone"],
            "pause_status": "PAUSED" if schedule["paused"] else "UNPAUSED",
        }
        wrong = {k: (have[k], v) for k, v in want.items() if have[k] != v}
        if wrong:
            problems.append(
                f"{name}: schedule " + ", ".join(f"{k} is {a!r}, expected {e!r}" for k, (a, e) in wrong.items())
            )
        else:
            echo(f"ok {name}: {want['quartz_cron_expression']} {want['timezone_id']} {want['pause_status']}")
    if problems:
        raise JobError("; ".join(problems))


def host_for(env: str) -> str:
    from ml.config.loader import load_project

    return os.environ.get("DATABRICKS_HOST") or load_project(env).platform.workspace_host


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="Trigger a job and wait for it.")
    run.add_argument("--env", required=True)
    run.add_argument("--job", required=True)
    run.add_argument("--timeout", type=float, default=4 * 3600)
    run.add_argument("--poll", type=float, default=30)
    run.add_argument("--param", action="append", default=[], help="KEY=VALUE job parameter")
    check = sub.add_parser("smoke", help="Check the deployed jobs and their schedules.")
    check.add_argument("--env", required=True)
    args = parser.parse_args(argv)
    from databricks.sdk.errors import DatabricksError

    from ml.errors import HrobError
    from ml.runtime.remote import TIMEOUT_VARIABLE, timeout, unreachable

    host = ""
    try:
        host = host_for(args.env)
        w = workspace(host)
        if args.command == "run":
            params = dict(p.split("=", 1) for p in args.param)
            run_job(w, args.env, args.job, args.timeout, params, args.poll)
        else:
            smoke(w, args.env, expected_schedules(args.env))
    except HrobError as error:
        return _fail(str(error), error.exit_code)
    except Exception as error:
        reason = unreachable(error)
        if reason is not None:
            return _fail(
                f"the workspace {host} is unreachable ({reason}, {timeout():.0f}s per request): check the network "
                f"and the Azure CLI session (az login); {TIMEOUT_VARIABLE} sets the wait",
                2,
            )
        if isinstance(error, JobError):  # the set-up (2), or the job itself failed or is not deployed (1)
            return _fail(str(error), 2 if isinstance(error, SetupError) else 1)
        if isinstance(error, ValueError) and not isinstance(error, DatabricksError):  # the SDK's configuration
            return _fail(f"cannot authenticate through the Azure CLI: {error}", 2)
        if isinstance(error, DatabricksError):
            return _fail(str(error), 1)
        raise
    return 0


def _fail(message: str, code: int) -> int:
    """One line on stderr, at most 300 characters of the cause."""
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"error: databricks_job: {first[:300]}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
