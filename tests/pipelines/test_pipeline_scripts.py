"""The scripts the pipelines call, against local stand-ins of Azure DevOps and Databricks."""

from __future__ import annotations

import pytest

from tests.pipelines.conftest import load_script

comment = load_script("post_plan_comment")
jobs = load_script("databricks_job")

PLAN = """\x1b[1mdev  databricks_job.training_job (training_job): Refreshing state...\x1b[0m
  # databricks_job.training_job will be updated in-place
  ~ resource "databricks_job" "training_job" {
      ~ name = "[staging] hrob training" -> "[staging] hrob training v2"
    }

Plan: 0 to add, 1 to change, 0 to destroy.
"""


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
    (request,) = server.requests
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


# ---------------------------------------------------------------- Databricks Jobs API


def jobs_api(states: list[dict], schedule: dict | None = None):
    """A stand-in answering like the Jobs API 2.2: one job; each runs/get returns the next state."""
    remaining = list(states)

    def handler(request):
        path = request["path"]
        if path == "/api/2.2/jobs/list":
            settings = {"name": "[staging] hrob training"} | ({"schedule": schedule} if schedule else {})
            return 200, {
                "jobs": [
                    {"job_id": 42, "settings": settings},
                    {"job_id": 43, "settings": {"name": "[staging] hrob training-old"}},
                ]
            }
        if path == "/api/2.2/jobs/run-now":
            return 200, {"run_id": 7001, "number_in_job": 1}
        if path == "/api/2.2/jobs/runs/get":
            state = remaining.pop(0) if len(remaining) > 1 else remaining[0]
            return 200, {
                "run_id": 7001,
                "state": state,
                "run_page_url": "https://adb/run/7001",
                "tasks": [{"task_key": "train", "state": state}],
            }
        if path == "/api/2.2/jobs/runs/cancel":
            return 200, {}
        return 404, {"error_code": "ENDPOINT_NOT_FOUND"}

    return handler


RUNNING = {"life_cycle_state": "RUNNING"}
SUCCESS = {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}
FAILED = {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "Task validate failed"}


def test_a_job_is_triggered_by_name_and_waited_for(stand_in):
    server = stand_in(jobs_api([{"life_cycle_state": "PENDING"}, RUNNING, SUCCESS]))
    api = jobs.JobsApi(server.url, "token")
    lines = []
    run = jobs.run_job(api, "staging", "training", timeout=60, parameters={}, poll=0.01, echo=lines.append)
    assert run["state"]["result_state"] == "SUCCESS"
    started = next(r for r in server.requests if r["path"].endswith("run-now"))
    assert started["body"] == {"job_id": 42} and started["headers"]["Authorization"] == "Bearer token"
    assert sum(r["path"].endswith("runs/get") for r in server.requests) == 3
    assert "run 7001: TERMINATED SUCCESS (train=SUCCESS)" in lines[-1]


def test_a_failed_run_fails_with_its_message(stand_in):
    server = stand_in(jobs_api([RUNNING, FAILED]))
    with pytest.raises(
        jobs.JobError, match=r"run 7001 of \[staging\] hrob training ended FAILED: Task validate failed"
    ):
        jobs.run_job(jobs.JobsApi(server.url, "t"), "staging", "training", 60, {}, poll=0.01, echo=lambda _: None)


def test_a_run_past_its_timeout_is_cancelled(stand_in):
    server = stand_in(jobs_api([RUNNING]))
    with pytest.raises(jobs.JobError, match=r"run 7001 still RUNNING after 0s: cancelled"):
        jobs.run_job(jobs.JobsApi(server.url, "t"), "staging", "training", 0.05, {}, poll=0.01, echo=lambda _: None)
    assert server.requests[-1]["path"] == "/api/2.2/jobs/runs/cancel"
    assert server.requests[-1]["body"] == {"run_id": 7001}


def test_a_job_that_is_not_deployed_is_named(stand_in):
    server = stand_in(jobs_api([SUCCESS]))
    with pytest.raises(jobs.JobError, match=r"expected one job named '\[staging\] hrob inference', found 0"):
        jobs.run_job(jobs.JobsApi(server.url, "t"), "staging", "inference", 60, {}, poll=0.01, echo=lambda _: None)


def test_the_smoke_check_compares_schedules_with_the_configuration(stand_in):
    schedule = {"quartz_cron_expression": "0 0 8 ? * MON", "timezone_id": "UTC", "pause_status": "UNPAUSED"}
    server = stand_in(jobs_api([SUCCESS], schedule))
    api = jobs.JobsApi(server.url, "t")
    lines = []
    jobs.smoke(
        api,
        "staging",
        {"training": {"quartz_cron": "0 0 8 ? * MON", "timezone": "UTC", "paused": False}},
        echo=lines.append,
    )
    assert lines == ["ok [staging] hrob training: 0 0 8 ? * MON UTC UNPAUSED"]
    with pytest.raises(jobs.JobError, match=r"quartz_cron_expression is '0 0 8 \? \* MON', expected '0 0 9 \* \* \?'"):
        jobs.smoke(api, "staging", {"training": {"quartz_cron": "0 0 9 * * ?", "timezone": "UTC", "paused": False}})


def test_the_prod_schedules_come_from_the_configuration():
    expected = jobs.expected_schedules("prod")
    assert expected["inference"]["quartz_cron"] == "0 0 11 * * ?"
    assert set(expected) == {"features", "training", "inference"}


def test_an_unreachable_api_is_one_line(stand_in):
    with pytest.raises(jobs.JobError, match=r"GET jobs/list: .*(refused|Connection)"):
        jobs.JobsApi("http://127.0.0.1:9", "t", timeout=2).find("x")
