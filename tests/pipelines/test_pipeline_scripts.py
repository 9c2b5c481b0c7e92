"""The scripts the pipelines call, against local stand-ins of Azure DevOps and Databricks."""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.pipelines.conftest import load_script

comment = load_script("post_plan_comment")
summary = load_script("plan_summary")
jobs = load_script("databricks_job")

PLAN = """\x1b[1mdev  databricks_job.training_job (training_job): Refreshing state...\x1b[0m
  # databricks_job.training_job will be updated in-place
  ~ resource "databricks_job" "training_job" {
      ~ name = "[staging] hrob training" -> "[staging] hrob training v2"
    }

Plan: 0 to add, 1 to change, 0 to destroy.
"""


# ---------------------------------------------------------------- plan summary


def test_the_approver_reads_the_counts_then_the_whole_plan(tmp_path, capsys):
    plan = tmp_path / "plan.txt"
    plan.write_text(PLAN.replace("\x1b[1m", "").replace("\x1b[0m", "") + "```\n")
    assert summary.main(["--env", "prod", "--plan", str(plan)]) == 0
    page = tmp_path / "plan-prod.md"
    assert capsys.readouterr().out.strip() == f"##vso[task.uploadsummary]{page.resolve()}"
    text = page.read_text()
    assert text.startswith("# Plan to apply: prod\n\n**prod**: 0 to add, 1 to change, 0 to destroy\n")
    assert text.count("```") == 2, "a fence inside the plan cannot end the block early"
    assert '~ name = "[staging] hrob training" -> "[staging] hrob training v2"' in text


def test_an_empty_plan_and_a_missing_one(tmp_path, capsys):
    plan = tmp_path / "plan.txt"
    plan.write_text("No changes. Your infrastructure matches the configuration.\n")
    assert summary.main(["--env", "staging", "--plan", str(plan)]) == 0
    assert "**staging**: no changes" in (tmp_path / "plan-staging.md").read_text()
    assert summary.main(["--env", "staging", "--plan", str(tmp_path / "none.txt")]) == 2
    assert capsys.readouterr().err.strip().endswith("none.txt does not exist: make plan-file ENV=staging first")


# ---------------------------------------------------------------- PR comment


def test_the_comment_leads_with_the_plan_summary_and_strips_colours():
    text = comment.format_comment("staging", PLAN, "https://ci/run/1")
    assert text.startswith("### `cdktn diff staging`: Plan: 0 to add, 1 to change, 0 to destroy.")
    assert "\x1b[" not in text and "[Pipeline run](https://ci/run/1)" in text
    assert "```\n" in text and text.count("```") == 2


def test_a_long_plan_is_cut_at_a_line_with_a_link_to_the_full_log():
    long = PLAN + "\n".join(f'  + resource "x" "r{i}" {{}}' for i in range(5000))
    text = comment.format_comment("prod", long, "https://ci/run/2", max_chars=2000)
    assert len(text) < 2400
    assert "Plan truncated at 2,000 characters: [full plan in the pipeline log](https://ci/run/2)" in text
    body = text.split("```")[1]
    assert all(line.startswith(("  ", "\x1b", "dev", "Plan")) or not line for line in body.strip().splitlines())


def test_no_summary_in_the_output_is_said_plainly():
    text = comment.format_comment("staging", "Error: provider failed to start", "u")
    assert "no plan summary found in the output" in text.splitlines()[0]


def test_the_comment_is_posted_as_a_pr_thread_with_the_pipeline_token(stand_in, tmp_path, monkeypatch, capsys):
    server = stand_in(lambda request: (200, {"id": 91}))
    plan = tmp_path / "plan.txt"
    plan.write_text(PLAN)
    monkeypatch.setenv("SYSTEM_COLLECTIONURI", server.url + "/medicaid-health-plan/")
    monkeypatch.setenv("SYSTEM_TEAMPROJECT", "hrob")
    monkeypatch.setenv("BUILD_REPOSITORY_ID", "repo-guid")
    monkeypatch.setenv("SYSTEM_PULLREQUEST_PULLREQUESTID", "17")
    monkeypatch.setenv("BUILD_BUILDID", "555")
    monkeypatch.setenv("SYSTEM_ACCESSTOKEN", "pipeline-token")
    assert comment.main(["--env", "staging", "--plan", str(plan)]) == 0
    lookup, request = server.requests  # no earlier plan comment: a new thread
    assert lookup["method"] == "GET"
    assert request["method"] == "POST"
    assert request["path"] == "/medicaid-health-plan/hrob/_apis/git/repositories/repo-guid/pullRequests/17/threads"
    assert request["query"] == "api-version=7.1"
    assert request["headers"]["Authorization"] == "Bearer pipeline-token"
    posted = request["body"]["comments"][0]
    assert posted["commentType"] == 1 and "Plan: 0 to add, 1 to change" in posted["content"]
    assert "_build/results?buildId=555" in posted["content"]
    assert "thread 91" in capsys.readouterr().out


def test_a_rejected_post_is_one_line_and_fails(stand_in, tmp_path, monkeypatch):
    server = stand_in(lambda request: (403, {"message": "forbidden"}))
    plan = tmp_path / "plan.txt"
    plan.write_text(PLAN)
    for name, value in {
        "SYSTEM_COLLECTIONURI": server.url + "/org/",
        "SYSTEM_TEAMPROJECT": "hrob",
        "BUILD_REPOSITORY_ID": "r",
        "SYSTEM_PULLREQUEST_PULLREQUESTID": "3",
        "SYSTEM_ACCESSTOKEN": "t",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match=r"posting to PR 3 failed: HTTP Error 403"):
        comment.main(["--env", "staging", "--plan", str(plan)])


def test_outside_a_pull_request_build_it_says_what_is_missing(tmp_path, monkeypatch):
    plan = tmp_path / "plan.txt"
    plan.write_text(PLAN)
    monkeypatch.delenv("SYSTEM_PULLREQUEST_PULLREQUESTID", raising=False)
    with pytest.raises(SystemExit, match="SYSTEM_PULLREQUEST_PULLREQUESTID not set: not a pull-request build"):
        comment.main(["--env", "staging", "--plan", str(plan)])


def test_a_push_updates_the_environment_plan_comment_instead_of_adding_a_thread(stand_in, tmp_path, monkeypatch):
    threads = {
        "value": [
            {"id": 5, "comments": [{"id": 1, "content": "a reviewer's remark"}]},
            {"id": 8, "comments": [{"id": 1, "content": "### `cdktn diff prod` ...\n<!-- hrob-plan:prod -->"}]},
            {"id": 9, "comments": [{"id": 1, "content": "### `cdktn diff staging` ...\n<!-- hrob-plan:staging -->"}]},
        ]
    }
    server = stand_in(lambda request: (200, threads if request["method"] == "GET" else {"id": 9}))
    plan = tmp_path / "plan.txt"
    plan.write_text(PLAN)
    for name, value in {
        "SYSTEM_COLLECTIONURI": server.url + "/org/",
        "SYSTEM_TEAMPROJECT": "hrob",
        "BUILD_REPOSITORY_ID": "r",
        "SYSTEM_PULLREQUEST_PULLREQUESTID": "3",
        "SYSTEM_ACCESSTOKEN": "t",
    }.items():
        monkeypatch.setenv(name, value)
    assert comment.main(["--env", "staging", "--plan", str(plan)]) == 0
    get, patch = server.requests
    assert get["method"] == "GET" and patch["method"] == "PATCH"
    assert patch["path"] == "/org/hrob/_apis/git/repositories/r/pullRequests/3/threads/9/comments/1"
    assert "Plan: 0 to add, 1 to change" in patch["body"]["content"]
    assert patch["body"]["content"].endswith("<!-- hrob-plan:staging -->")


# ---------------------------------------------------------------- Databricks through databricks-sdk


@pytest.fixture
def azure_cli(tmp_path, monkeypatch):
    """A stand-in `az` first on PATH: every call mints a new token (expiring in `lifetime`
    seconds), and is counted; `az account show` answers for a service principal."""
    folder = tmp_path / "az-bin"
    folder.mkdir()
    calls = tmp_path / "az-calls"
    settings = tmp_path / "az-settings.json"
    settings.write_text(json.dumps({"lifetime": 3600, "fail": False}))
    script = folder / "az"
    script.write_text(
        f"""#!{sys.executable}
import base64, json, pathlib, sys, time
settings = json.loads(pathlib.Path({str(settings)!r}).read_text())
log = pathlib.Path({str(calls)!r})
number = len(log.read_text().splitlines()) + 1 if log.exists() else 1
with log.open("a") as out:
    out.write(" ".join(sys.argv[1:]) + "\\n")
if settings["fail"]:
    print("ERROR: Please run 'az login' to setup account.", file=sys.stderr)
    sys.exit(1)
if sys.argv[1:3] == ["account", "show"]:
    print(json.dumps({{"id": "sub-1", "user": {{"type": "servicePrincipal", "name": "deployer"}}}}))
    sys.exit(0)
claims = base64.urlsafe_b64encode(json.dumps({{"sub": "deployer", "n": number}}).encode()).decode().rstrip("=")
expires = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() + settings["lifetime"]))
print(json.dumps({{"accessToken": "e30." + claims + ".sig", "tokenType": "Bearer", "expiresOn": expires}}))
"""
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    for name in (*jobs.OTHER_CREDENTIALS, "DATABRICKS_HOST", "DATABRICKS_AUTH_TYPE", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))

    class Cli:
        def configure(self, **changes):
            settings.write_text(json.dumps(json.loads(settings.read_text()) | changes))

        @property
        def calls(self) -> list[str]:
            return calls.read_text().splitlines() if calls.exists() else []

    return Cli()


class Clock:
    """The SDK's clock for retries, without real waiting."""

    def __init__(self):
        self.now = 0.0

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


TENANT = "00000000-0000-0000-0000-000000000001"


def workspace(url: str):
    """A client of the stand-in that authenticates as against an Azure Databricks workspace."""
    from databricks.sdk.environments import get_environment_for_hostname

    azure = get_environment_for_hostname("adb-1.azuredatabricks.net")
    return jobs.workspace(url, azure_tenant_id=TENANT, databricks_environment=azure)


def jobs_api(
    states: list[dict],
    schedule: dict | None = None,
    failures: dict[str, list[int]] | None = None,
    trigger: dict | None = None,
):
    """A stand-in answering like the Jobs API 2.2: one job; each runs/get returns the next
    state; `failures` maps an endpoint to HTTP statuses it answers first."""
    remaining = list(states)
    failures = {k: list(v) for k, v in (failures or {}).items()}

    def handler(request):
        path = request["path"]
        endpoint = path.removeprefix("/api/2.2/")
        if failures.get(endpoint):
            status = failures[endpoint].pop(0)
            return status, {"error_code": "TEMPORARILY_UNAVAILABLE" if status == 503 else "x", "message": "busy"}
        if endpoint == "jobs/list":
            settings = {"name": "[staging] hrob training"} | ({"schedule": schedule} if schedule else {})
            settings |= {"trigger": trigger} if trigger else {}
            return 200, {
                "jobs": [
                    {"job_id": 42, "settings": settings},
                    {"job_id": 43, "settings": {"name": "[staging] hrob training-old"}},
                ]
            }
        if endpoint == "jobs/run-now":
            return 200, {"run_id": 7001, "number_in_job": 1}
        if endpoint == "jobs/runs/get":
            state = remaining.pop(0) if len(remaining) > 1 else remaining[0]
            return 200, {
                "run_id": 7001,
                "state": state,
                "run_page_url": "https://adb/run/7001",
                "tasks": [{"task_key": "train", "state": state}],
            }
        if endpoint == "jobs/runs/cancel":
            return 200, {}
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": path}

    return handler


RUNNING = {"life_cycle_state": "RUNNING"}
SUCCESS = {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}
FAILED = {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "Task validate failed"}


def calls_to(server, endpoint: str) -> list[dict]:
    return [r for r in server.requests if r["path"] == f"/api/2.2/{endpoint}"]


def test_a_job_is_triggered_by_name_and_waited_for_with_the_azure_cli_token(stand_in, azure_cli):
    server = stand_in(jobs_api([{"life_cycle_state": "PENDING"}, RUNNING, SUCCESS]))
    lines = []
    run = jobs.run_job(workspace(server.url), "staging", "training", 60, {}, poll=0, echo=lines.append)
    assert run.state.result_state.value == "SUCCESS"
    (started,) = calls_to(server, "jobs/run-now")
    assert started["body"]["job_id"] == 42 and started["body"]["idempotency_token"]
    assert started["headers"]["Authorization"].startswith("Bearer e30.")
    assert len(calls_to(server, "jobs/runs/get")) == 3
    assert "run 7001: TERMINATED SUCCESS (train=SUCCESS)" in lines[-1]
    assert any(call.startswith("account get-access-token --resource") for call in azure_cli.calls)


def test_an_expiring_token_is_refreshed_through_the_azure_cli(stand_in, azure_cli):
    azure_cli.configure(lifetime=-60)  # every token the CLI hands out has already expired
    server = stand_in(jobs_api([RUNNING, RUNNING, SUCCESS]))
    jobs.run_job(workspace(server.url), "staging", "training", 60, {}, poll=0, echo=lambda _: None)
    calls = [r for r in server.requests if r["path"].startswith("/api/")]
    tokens = {r["headers"]["Authorization"] for r in calls}
    assert len(tokens) == len(calls) > 3, "each call after expiry carries a fresh token"


def test_throttling_and_server_errors_are_retried_and_a_retried_start_starts_one_run(stand_in, azure_cli):
    failures = {"jobs/list": [429], "jobs/run-now": [503, 500], "jobs/runs/get": [502, 504, 500]}
    server = stand_in(jobs_api([RUNNING, SUCCESS], failures=failures))
    run = jobs.run_job(workspace(server.url), "staging", "training", 60, {}, poll=0, echo=lambda _: None, clock=Clock())
    assert run.state.result_state.value == "SUCCESS"
    starts = calls_to(server, "jobs/run-now")
    assert len(starts) == 3 and len({s["body"]["idempotency_token"] for s in starts}) == 1


def test_a_client_error_is_not_retried(stand_in, azure_cli):
    server = stand_in(jobs_api([SUCCESS], failures={"jobs/run-now": [403]}))
    with pytest.raises(Exception, match="busy"):
        jobs.run_job(workspace(server.url), "staging", "training", 60, {}, poll=0, echo=lambda _: None, clock=Clock())
    assert len(calls_to(server, "jobs/run-now")) == 1


def test_a_failed_run_fails_with_its_message(stand_in, azure_cli):
    server = stand_in(jobs_api([RUNNING, FAILED]))
    with pytest.raises(
        jobs.JobError, match=r"run 7001 of \[staging\] hrob training ended FAILED: Task validate failed"
    ):
        jobs.run_job(workspace(server.url), "staging", "training", 60, {}, poll=0, echo=lambda _: None)


def test_a_run_past_its_timeout_is_cancelled(stand_in, azure_cli):
    server = stand_in(jobs_api([RUNNING]))
    ticks = iter(range(0, 1000, 40))
    with pytest.raises(jobs.JobError, match=r"run 7001 still RUNNING after 100s: cancelled"):
        jobs.run_job(
            workspace(server.url),
            "staging",
            "training",
            100,
            {},
            poll=0,
            echo=lambda _: None,
            monotonic=lambda: next(ticks),
        )
    (cancel,) = calls_to(server, "jobs/runs/cancel")
    assert cancel["body"] == {"run_id": 7001}


def test_a_job_that_is_not_deployed_is_named(stand_in, azure_cli):
    server = stand_in(jobs_api([SUCCESS]))
    with pytest.raises(jobs.JobError, match=r"expected one job named '\[staging\] hrob inference', found 0"):
        jobs.run_job(workspace(server.url), "staging", "inference", 60, {}, poll=0, echo=lambda _: None)


def test_the_smoke_check_compares_schedules_with_the_configuration(stand_in, azure_cli):
    schedule = {"quartz_cron_expression": "0 0 8 ? * MON", "timezone_id": "UTC", "pause_status": "UNPAUSED"}
    server = stand_in(jobs_api([SUCCESS], schedule))
    w = workspace(server.url)
    lines = []
    jobs.smoke(
        w,
        "staging",
        {"training": {"quartz_cron": "0 0 8 ? * MON", "timezone": "UTC", "paused": False}},
        echo=lines.append,
    )
    assert lines == ["ok [staging] hrob training: 0 0 8 ? * MON UTC UNPAUSED"]
    with pytest.raises(jobs.JobError, match=r"quartz_cron_expression is '0 0 8 \? \* MON', expected '0 0 9 \* \* \?'"):
        jobs.smoke(w, "staging", {"training": {"quartz_cron": "0 0 9 * * ?", "timezone": "UTC", "paused": False}})


def test_the_prod_schedules_and_triggers_come_from_the_configuration():
    expected = jobs.expected_schedules("prod")
    assert expected["features"]["quartz_cron"] == "0 0 6 * * ?"
    assert expected["inference"] == {"table_update": ["hrob.prod.member_features"], "paused": False}
    assert expected["monitoring"] == {"table_update": ["hrob.prod.predictions"], "paused": False}
    assert set(expected) == {"features", "training", "inference", "monitoring"}


def test_the_smoke_check_reads_a_table_update_trigger(stand_in, azure_cli):
    trigger = {"pause_status": "UNPAUSED", "table_update": {"table_names": ["hrob.staging.predictions"]}}
    w = workspace(stand_in(jobs_api([SUCCESS], trigger=trigger)).url)
    lines = []
    jobs.smoke(
        w, "staging", {"training": {"table_update": ["hrob.staging.predictions"], "paused": False}}, lines.append
    )
    assert lines == ["ok [staging] hrob training: on update of hrob.staging.predictions"]
    with pytest.raises(jobs.JobError, match=r"expected \['hrob.staging.member_features'\] \(PAUSED\)"):
        jobs.smoke(w, "staging", {"training": {"table_update": ["hrob.staging.member_features"], "paused": True}})


def test_a_second_authentication_method_is_refused_in_one_line(stand_in, azure_cli, monkeypatch, capsys):
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi0000")
    monkeypatch.setenv("DATABRICKS_HOST", "http://127.0.0.1:9")
    assert jobs.main(["smoke", "--env", "staging"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: databricks_job: DATABRICKS_TOKEN set beside the Azure CLI session")


def test_no_azure_cli_session_is_one_line(stand_in, azure_cli, monkeypatch, capsys):
    azure_cli.configure(fail=True)
    server = stand_in(jobs_api([SUCCESS]))
    monkeypatch.setenv("DATABRICKS_HOST", server.url)
    monkeypatch.setenv("ARM_TENANT_ID", TENANT)
    assert jobs.main(["smoke", "--env", "staging"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: databricks_job: cannot authenticate through the Azure CLI")


def test_an_unreachable_workspace_is_one_line_after_the_configured_wait(azure_cli, monkeypatch, capsys):
    from tests.cli_process import free_port

    port = free_port()
    monkeypatch.setenv("DATABRICKS_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ARM_TENANT_ID", TENANT)
    monkeypatch.setenv("HROB_REMOTE_TIMEOUT", "2")
    assert jobs.main(["smoke", "--env", "staging"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(
        f"error: databricks_job: the workspace http://127.0.0.1:{port} is unreachable (connection refused, 2s per"
    ), line
