"""Bad input stops synthesis with one line naming the environment and the setting."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
import yaml

from ml.config.yaml_files import read_yaml
from ml.errors import ConfigError
from ml.runtime.paths import REPO_ROOT


def synth(configs, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HROB_CONFIG_DIR": str(configs), "CDKTF_OUTDIR": str(tmp_path / "out")}
    return subprocess.run(
        [sys.executable, "-m", "infra.app"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def edit(path, change):
    data = read_yaml(path)
    change(data["deployment"])
    path.write_text(yaml.safe_dump(data, sort_keys=False))


CASES = {
    "prod service principal id missing": (
        "prod",
        lambda d: d["service_principal"].pop("application_id"),
        "prod.yml: deployment.service_principal.application_id: required key is missing",
    ),
    "staging service principal missing": (
        "staging",
        lambda d: d.pop("service_principal"),
        "staging.yml: deployment: service_principal (application_id, display_name) is required",
    ),
    "invalid cron": (
        "staging",
        lambda d: d["jobs"]["features"]["schedule"].update(quartz_cron="0 61 6 * * ?"),
        "staging.yml: deployment.jobs.features.schedule.quartz_cron: minutes value 61 is outside 0-59",
    ),
    "invalid timezone": (
        "prod",
        lambda d: d["jobs"]["features"]["schedule"].update(timezone="Eastern"),
        "prod.yml: deployment.jobs.features.schedule.timezone: unknown timezone 'Eastern'",
    ),
    "branch missing": ("dev", lambda d: d.pop("branch"), "dev.yml: deployment.branch: required key is missing"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_configuration_stops_synthesis(case, config_copy, tmp_path):
    env, change, expected = CASES[case]
    edit(config_copy / "environments" / f"{env}.yml", change)
    done = synth(config_copy, tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert not (tmp_path / "out").exists(), "nothing is written"


def test_missing_entry_point_names_environment_job_and_task(monkeypatch):
    import infra.props as props
    from ml.jobs.catalogue import JOBS

    features = JOBS["features"]
    broken = dataclasses.replace(
        features, tasks=(dataclasses.replace(features.tasks[0], entry_point="ml/jobs/nope.py"),)
    )
    monkeypatch.setattr(props, "JOBS", {**JOBS, "features": broken})
    with pytest.raises(
        ConfigError, match=r"^prod: job 'features', task 'features': entry point ml/jobs/nope.py does not exist$"
    ):
        props.environment_props("prod")


def test_unknown_dependency_is_refused(monkeypatch):
    import infra.props as props
    from ml.jobs.catalogue import JOBS

    training = JOBS["training"]
    tasks = (training.tasks[0], dataclasses.replace(training.tasks[1], depends_on=("trian",)), training.tasks[2])
    monkeypatch.setattr(props, "JOBS", {**JOBS, "training": dataclasses.replace(training, tasks=tasks)})
    with pytest.raises(ConfigError, match=r"staging: job 'training', task 'validate': depends on unknown task 'trian'"):
        props.environment_props("staging")


def test_a_run_job_task_passing_a_parameter_the_job_lacks_is_refused(monkeypatch):
    import infra.props as props
    from ml.jobs.catalogue import JOBS

    monitoring = JOBS["monitoring"]
    retrain = dataclasses.replace(monitoring.tasks[2], parameters=(("asof", "{{job.parameters.scoring_date}}"),))
    tasks = (*monitoring.tasks[:2], retrain)
    monkeypatch.setattr(props, "JOBS", {**JOBS, "monitoring": dataclasses.replace(monitoring, tasks=tasks)})
    with pytest.raises(
        ConfigError,
        match=r"^dev: job 'monitoring', task 'retrain': job 'training' has no parameter 'asof' \(parameters: as_of\)$",
    ):
        props.environment_props("dev")


def test_a_runtime_the_lock_does_not_match_stops_synthesis(config_copy):
    import infra.props as props

    path = config_copy / "project.yml"
    data = read_yaml(path)
    data["runtime"]["provides"]["pyspark"] = "4.0"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as error:
        props.environment_props("staging", config_copy)
    assert str(error.value) == (
        "configs/project.yml: runtime (18 LTS ML) and uv.lock disagree: uv.lock pins pyspark "
        f"{__import__('pyspark').__version__}, the runtime ships 4.0: change pyproject.toml to the runtime's "
        "versions and run make lock"
    )
