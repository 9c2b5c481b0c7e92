"""The local runner's reading of a synthesized stack: task order, references, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ml.runner.deployed import DeployedJob, DeployedTask, RunnerError, find_job, read_jobs
from ml.runner.execute import context_for
from ml.runner.references import RunContext


def _stack(tmp_path, tasks, parameters=None):
    job = {"name": "[dev] hrob training", "tags": {"job": "training"}, "task": tasks, "parameter": parameters or []}
    path = tmp_path / "stacks" / "dev" / "cdk.tf.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"resource": {"databricks_job": {"job_training": job}}}))
    return tmp_path


def _task(key, *depends, params=()):
    return {
        "task_key": key,
        "depends_on": [{"task_key": d} for d in depends],
        "spark_python_task": {"python_file": f"ml/jobs/{key}.py", "parameters": list(params)},
    }


def test_tasks_run_in_dependency_order_whatever_the_declaration_order(tmp_path):
    out = _stack(tmp_path, [_task("promote", "validate"), _task("validate", "train"), _task("train")])
    job = find_job("dev", "training", out)
    assert [t.key for t in job.ordered()] == ["train", "validate", "promote"]
    assert [t.key for t in job.ordered("validate")] == ["validate"]


def test_a_cycle_or_an_unknown_dependency_is_named(tmp_path):
    job = DeployedJob("j", "j", {}, (DeployedTask("a", "a.py", (), ("b",)), DeployedTask("b", "b.py", (), ("a",))))
    with pytest.raises(RunnerError, match="task dependencies name a cycle: a, b"):
        job.ordered()
    job = DeployedJob("j", "j", {}, (DeployedTask("a", "a.py", (), ("ghost",)),))
    with pytest.raises(RunnerError, match=r"name unknown tasks \['ghost'\]"):
        job.ordered()


def test_unknown_job_or_task_lists_the_valid_names(tmp_path):
    out = _stack(tmp_path, [_task("train"), _task("validate", "train")])
    with pytest.raises(RunnerError, match=r"environment dev has no job 'trianing' \(jobs: training\)"):
        find_job("dev", "trianing", out)
    with pytest.raises(RunnerError, match=r"job training has no task 'score' \(tasks: train, validate\)"):
        find_job("dev", "training", out).ordered("score")


def test_references_resolve_as_databricks_resolves_them():
    context = RunContext(
        "981", datetime(2026, 11, 29, 23, 59, tzinfo=UTC), {"as_of": "2026-06-15"}, {"train": {"model_version": "4"}}
    )
    assert context.resolve("--job-run-id={{job.run_id}}", "t") == "--job-run-id=981"
    assert context.resolve("--as-of={{ job.parameters.as_of }}", "t") == "--as-of=2026-06-15"
    assert context.resolve("--day={{job.start_time.iso_date}}", "t") == "--day=2026-11-29"
    assert context.resolve("--model-version={{tasks.train.values.model_version}}", "t") == "--model-version=4"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("{{job.parameters.asof}}", r"names no job parameter \(parameters: as_of\)"),
        ("{{tasks.validate.values.decision}}", "task validate has not run before this task"),
        ("{{tasks.train.values.version}}", r"task train set no value 'version' \(values: model_version\)"),
        ("{{job.trigger.type}}", r"unsupported reference \{\{job.trigger.type\}\}"),
    ],
)
def test_a_reference_that_cannot_resolve_is_named(reference, message):
    context = RunContext("1", datetime.now(UTC), {"as_of": ""}, {"train": {"model_version": "4"}})
    with pytest.raises(RunnerError, match=message):
        context.resolve(f"--x={reference}", "task validate")


def test_job_parameters_take_defaults_overrides_and_refuse_unknown_names(tmp_path):
    out = _stack(
        tmp_path,
        [_task("features")],
        [{"name": "as_of", "default": "{{job.start_time.iso_date}}"}, {"name": "backfill_from", "default": ""}],
    )
    job = find_job("dev", "training", out)
    context = context_for(job, {"backfill_from": "2021-01-01"})
    assert context.parameters == {"as_of": datetime.now(UTC).date().isoformat(), "backfill_from": "2021-01-01"}
    with pytest.raises(RunnerError, match=r"job training has no parameter 'asof' \(parameters: as_of, backfill_from\)"):
        context_for(job, {"asof": "2026-01-01"})


def test_the_real_stacks_declare_what_the_runner_needs(synth_out):
    """Every job in the synthesized dev stack, read the runner's way."""
    jobs = read_jobs(synth_out / "stacks" / "dev" / "cdk.tf.json")
    assert set(jobs) == {"features", "training", "inference", "monitoring", "rollback"}
    assert [t.key for t in jobs["rollback"].ordered()] == ["rollback"]
    assert [t.key for t in jobs["training"].ordered()] == ["train", "validate", "promote"]
    assert [t.key for t in jobs["inference"].ordered()] == ["score", "outreach"]
    _, crossed, retrain = jobs["monitoring"].ordered()
    assert crossed.condition == ("{{tasks.monitor.values.retrain}}", "EQUAL_TO", "true")
    assert retrain.run_job == "training" and retrain.outcomes == (("threshold_crossed", "true"),)
    assert retrain.run_job_parameters == (("as_of", "{{job.parameters.scoring_date}}"),)
    for job in jobs.values():
        for task in job.tasks:
            assert task.python_file == "" or task.parameters[0] == "--env=dev"


def _monitoring_stack(tmp_path):
    """A stack shaped like the real monitoring job: a task, a condition on its value, a run-job task."""
    monitoring = {
        "name": "[dev] hrob monitoring",
        "tags": {"job": "monitoring"},
        "parameter": [{"name": "scoring_date", "default": "2026-03-02"}],
        "task": [
            _task("monitor"),
            {
                "task_key": "threshold_crossed",
                "depends_on": [{"task_key": "monitor"}],
                "condition_task": {"left": "{{tasks.monitor.values.retrain}}", "op": "EQUAL_TO", "right": "true"},
            },
            {
                "task_key": "retrain",
                "depends_on": [{"task_key": "threshold_crossed", "outcome": "true"}],
                "run_job_task": {
                    "job_id": "${databricks_job.job_training_job_1.id}",
                    "job_parameters": {"as_of": "{{job.parameters.scoring_date}}"},
                },
            },
            {
                "task_key": "after",
                "depends_on": [{"task_key": "retrain"}],
                "spark_python_task": {"python_file": "ml/jobs/outreach.py"},
            },
        ],
    }
    training = {"name": "[dev] hrob training", "tags": {"job": "training"}, "task": [_task("train")]}
    path = tmp_path / "cdk.tf.json"
    resources = {"job_monitoring_job_2": monitoring, "job_training_job_1": training}
    path.write_text(json.dumps({"resource": {"databricks_job": resources}}))
    return read_jobs(path)


@pytest.mark.parametrize(("retrain", "started"), [("true", ["training"]), ("false", [])])
def test_a_condition_task_decides_whether_the_run_job_task_starts_the_training_job(
    tmp_path, monkeypatch, retrain, started
):
    """As Databricks runs it: the condition compares the monitor's value; when it is false the
    run-job task, and every task after it, is excluded and the run still succeeds."""
    from ml.runner import execute

    jobs = _monitoring_stack(tmp_path)
    ran = []

    def task_process(script, arguments, in_process=False):  # the python tasks' processes are tested above
        ran.append(script.name)
        return 0, {"retrain": retrain}

    monkeypatch.setattr(execute, "run_task", task_process)
    starts = []
    results = execute.run_job(
        jobs["monitoring"], echo=lambda _: None, start_job=lambda name, params: starts.append((name, params))
    )
    # the started job is passed its parameters, references resolved: as of the monitored date
    assert starts == [(name, {"as_of": "2026-03-02"}) for name in started]
    statuses = {r.key: r.status for r in results}
    assert statuses["monitor"] == statuses["threshold_crossed"] == "succeeded"
    expected = "succeeded" if retrain == "true" else "excluded"
    assert statuses["retrain"] == statuses["after"] == expected
    assert ran == (["monitor.py", "outreach.py"] if retrain == "true" else ["monitor.py"])


def test_a_run_job_task_that_fails_fails_its_job(tmp_path, monkeypatch):
    from ml.runner import execute
    from ml.runner.execute import TaskFailed

    jobs = _monitoring_stack(tmp_path)
    monkeypatch.setattr(execute, "run_task", lambda *a, **k: (0, {"retrain": "true"}))

    def failing(name, params):
        raise TaskFailed(f"job {name}: task train failed with exit status 1", [])

    with pytest.raises(TaskFailed, match="job monitoring: task retrain: job training: task train failed") as failed:
        execute.run_job(jobs["monitoring"], echo=lambda _: None, start_job=failing)
    assert [(r.key, r.status) for r in failed.value.results][-2:] == [("retrain", "failed"), ("after", "skipped")]


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        ("true", "EQUAL_TO", "true", True),
        ("false", "EQUAL_TO", "true", False),
        ("0.31", "GREATER_THAN", "0.2", True),
        ("10", "LESS_THAN", "9", False),  # numbers compare as numbers, not as text
        ("abc", "NOT_EQUAL", "abd", True),
    ],
)
def test_condition_operators(left, op, right, expected):
    from ml.runner.execute import compare

    assert compare(left, op, right) is expected


def test_a_condition_the_runner_cannot_evaluate_is_named():
    from ml.runner.execute import compare

    with pytest.raises(RunnerError, match="'abc' GREATER_THAN 'b': GREATER_THAN compares numbers only"):
        compare("abc", "GREATER_THAN", "b")
    with pytest.raises(RunnerError, match="condition operator ABOUT is not one of EQUAL_TO"):
        compare("1", "ABOUT", "1")


def _broken_stack(synth_out, tmp_path, change):
    """The real synthesized dev stack with one task changed, as a bad merge would leave it."""
    document = json.loads((synth_out / "stacks" / "dev" / "cdk.tf.json").read_text())
    path = tmp_path / "stacks" / "dev" / "cdk.tf.json"
    path.parent.mkdir(parents=True)
    job = next(j for j in document["resource"]["databricks_job"].values() if j["tags"]["job"] == "inference")
    change(next(t for t in job["task"] if t["task_key"] == "score")["spark_python_task"])
    path.write_text(json.dumps(document))
    return find_job("dev", "inference", tmp_path)


def test_a_wrong_entry_point_in_the_synthesized_job_fails_naming_the_task(synth_out, tmp_path):
    from ml.runner.execute import run_job

    job = _broken_stack(synth_out, tmp_path, lambda task: task.update(python_file="ml/jobs/scoring.py"))
    with pytest.raises(RunnerError, match=r"task score: entry point ml/jobs/scoring\.py does not exist"):
        run_job(job, echo=lambda _: None)


def test_a_wrong_parameter_in_the_synthesized_job_fails_naming_the_task(synth_out, tmp_path, capfd):
    from ml.runner.execute import TaskFailed, run_job

    def rename_flag(task):
        task["parameters"] = [p.replace("--scoring-date=", "--score-date=") for p in task["parameters"]]

    job = _broken_stack(synth_out, tmp_path, rename_flag)
    with pytest.raises(TaskFailed, match="job inference: task score failed with exit status 2") as failed:
        run_job(job, echo=lambda _: None)
    assert [(r.key, r.status) for r in failed.value.results] == [("score", "failed"), ("outreach", "skipped")]
    assert "unrecognized arguments: --score-date=" in capfd.readouterr().out


TASK_SCRIPT = """
import sys
from ml.runtime.task_values import publish
publish({"model_version": 7, "flag": sys.argv[1]})
print("ran with", sys.argv[1:])
if sys.argv[1] == "--fail":
    sys.exit(3)
if sys.argv[1] == "--crash":
    raise RuntimeError("boom")
"""


@pytest.mark.parametrize("in_process", [False, True], ids=["own process", "in process"])
@pytest.mark.parametrize(("flag", "code"), [("--ok", 0), ("--fail", 3), ("--crash", 1)])
def test_a_task_reports_its_exit_status_and_values_in_either_mode(tmp_path, capfd, in_process, flag, code):
    import os
    import sys

    from ml.runner import execute
    from ml.runtime.task_values import ENV_VAR

    script = tmp_path / "task.py"
    script.write_text(TASK_SCRIPT)
    argv, values_file = list(sys.argv), os.environ.get(ENV_VAR)
    assert execute.run_task(script, [flag], in_process) == (code, {"model_version": "7", "flag": flag})
    out = capfd.readouterr()
    assert f"ran with ['{flag}']" in out.out
    if flag == "--crash":
        assert "RuntimeError: boom" in out.out + out.err
    assert sys.argv == argv and os.environ.get(ENV_VAR) == values_file, "nothing of the task stays behind"


def test_a_configuration_mistake_is_the_runs_own_line(config_copy, tmp_path, monkeypatch, capsys):
    """A stale stack is synthesized first; a mistake there is shown as the file, field and
    what is wrong, and `--json` still prints one record."""
    from ml.cli import run_cmd
    from ml.errors import ConfigError
    from ml.runner import session

    project = config_copy / "project.yml"
    project.write_text(project.read_text().replace("  max_evals: 12", "  max_evals: many"))
    monkeypatch.setenv("HROB_CONFIG_DIR", str(config_copy))
    with pytest.raises(ConfigError) as raised:
        session.ensure_stack("dev", tmp_path / "out")
    (line,) = str(raised.value).splitlines()
    assert line.startswith("the stacks cannot be synthesized: ") and "project.yml: training.max_evals" in line
    assert "many" in line
    capsys.readouterr()

    with pytest.raises(RunnerError):
        run_cmd.run("training", env="nope", as_json=True)
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "error" and record["tasks"] == []
    assert record["error"].startswith("unknown environment 'nope'")
