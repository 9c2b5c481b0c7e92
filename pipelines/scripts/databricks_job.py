"""Trigger a deployed Databricks job and wait for it, or check that jobs exist as deployed.

  python pipelines/scripts/databricks_job.py run --env staging --job training [--timeout 7200]
  python pipelines/scripts/databricks_job.py smoke --env prod

Talks to the Jobs API 2.2 with the standard library (host from configs/project.yml or
DATABRICKS_HOST, a token in DATABRICKS_TOKEN: in CI an Entra ID token of the
environment's service principal, obtained through the pipeline's service connection).
Jobs are found by the name the stack gives them; expected schedules come from the
environment's configuration, so the smoke check and the stack cannot disagree.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}


class JobError(Exception):
    pass


@dataclass
class JobsApi:
    host: str
    token: str
    timeout: float = 30

    def _call(self, method: str, path: str, body: dict | None = None, query: dict | None = None) -> dict:
        url = f"{self.host.rstrip('/')}/api/2.2/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(
            url,
            method=method,
            data=json.dumps(body).encode() if body else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:300]
            raise JobError(f"{method} {path}: HTTP {error.code}: {detail}") from None
        except urllib.error.URLError as error:
            raise JobError(f"{method} {path}: {error.reason}") from None

    def find(self, name: str) -> dict:
        found = self._call("GET", "jobs/list", query={"name": name}).get("jobs", [])
        exact = [j for j in found if j.get("settings", {}).get("name") == name]
        if len(exact) != 1:
            raise JobError(f"expected one job named '{name}', found {len(exact)}: is the stack deployed?")
        return exact[0]

    def run_now(self, job_id: int, parameters: dict[str, str] | None = None) -> int:
        body = {"job_id": job_id} | ({"job_parameters": parameters} if parameters else {})
        return int(self._call("POST", "jobs/run-now", body)["run_id"])

    def get_run(self, run_id: int) -> dict:
        return self._call("GET", "jobs/runs/get", query={"run_id": run_id})

    def cancel(self, run_id: int) -> None:
        self._call("POST", "jobs/runs/cancel", {"run_id": run_id})


def job_name(env: str, job: str) -> str:
    sys.path.insert(0, str(REPO_ROOT))
    from ml.jobs.catalogue import deployed_name  # the name the stack gives the job

    return deployed_name(env, job)


def wait(api: JobsApi, run_id: int, timeout: float, poll: float = 30, clock=time.monotonic, sleep=time.sleep) -> dict:
    deadline = clock() + timeout
    while True:
        run = api.get_run(run_id)
        state = run.get("state", {})
        if state.get("life_cycle_state") in TERMINAL:
            return run
        if clock() >= deadline:
            api.cancel(run_id)
            raise JobError(f"run {run_id} still {state.get('life_cycle_state')} after {timeout:.0f}s: cancelled")
        sleep(poll)


def run_job(
    api: JobsApi, env: str, job: str, timeout: float, parameters: dict[str, str], poll: float = 30, echo=print
) -> dict:
    found = api.find(job_name(env, job))
    run_id = api.run_now(found["job_id"], parameters)
    echo(f"started {job_name(env, job)} (job {found['job_id']}), run {run_id}")
    run = wait(api, run_id, timeout, poll)
    state = run["state"]
    tasks = ", ".join(f"{t['task_key']}={t.get('state', {}).get('result_state', '?')}" for t in run.get("tasks", []))
    echo(
        f"run {run_id}: {state.get('life_cycle_state')} {state.get('result_state', '')} ({tasks}) "
        f"{run.get('run_page_url', '')}"
    )
    if state.get("result_state") != "SUCCESS":
        raise JobError(
            f"run {run_id} of {job_name(env, job)} ended {state.get('result_state') or state.get('life_cycle_state')}: "
            f"{state.get('state_message', '')}".strip()
        )
    return run


def expected_schedules(env: str) -> dict[str, dict]:
    sys.path.insert(0, str(REPO_ROOT))
    from ml.config.loader import load_settings

    jobs = load_settings(env).environment.deployment.jobs
    return {name: job.schedule.model_dump() for name, job in jobs.items() if job.schedule}


def smoke(api: JobsApi, env: str, expected: dict[str, dict], echo=print) -> None:
    problems = []
    for job, schedule in expected.items():
        try:
            found = api.find(job_name(env, job))
        except JobError as error:
            problems.append(str(error))
            continue
        actual = found.get("settings", {}).get("schedule", {})
        want = {
            "quartz_cron_expression": schedule["quartz_cron"],
            "timezone_id": schedule["timezone"],
            "pause_status": "PAUSED" if schedule["paused"] else "UNPAUSED",
        }
        wrong = {k: (actual.get(k), v) for k, v in want.items() if actual.get(k) != v}
        if wrong:
            problems.append(
                f"{job_name(env, job)}: schedule "
                + ", ".join(f"{k} is {a!r}, expected {w!r}" for k, (a, w) in wrong.items())
            )
        else:
            echo(
                f"ok {job_name(env, job)}: {want['quartz_cron_expression']} {want['timezone_id']} "
                f"{want['pause_status']}"
            )
    if problems:
        raise JobError("; ".join(problems))


def _api(args) -> JobsApi:
    token = os.environ.get("DATABRICKS_TOKEN")
    if not token:
        raise JobError("DATABRICKS_TOKEN is not set")
    host = os.environ.get("DATABRICKS_HOST")
    if not host:
        sys.path.insert(0, str(REPO_ROOT))
        from ml.config.loader import load_project

        host = load_project(args.env).platform.workspace_host
    return JobsApi(host, token)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="Trigger a job and wait for it.")
    run.add_argument("--env", required=True)
    run.add_argument("--job", required=True)
    run.add_argument("--timeout", type=float, default=3 * 3600)
    run.add_argument("--poll", type=float, default=30)
    run.add_argument("--param", action="append", default=[], help="KEY=VALUE job parameter")
    check = sub.add_parser("smoke", help="Check the deployed jobs and their schedules.")
    check.add_argument("--env", required=True)
    args = parser.parse_args(argv)
    try:
        api = _api(args)
        if args.command == "run":
            params = dict(p.split("=", 1) for p in args.param)
            run_job(api, args.env, args.job, args.timeout, params, args.poll)
        else:
            smoke(api, args.env, expected_schedules(args.env))
    except JobError as error:
        print(f"error: databricks_job: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
