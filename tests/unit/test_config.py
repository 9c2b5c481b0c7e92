"""Configuration: the shipped files validate, and every user mistake gives one line
naming the file, the key path and the problem, with exit status 2 and no traceback."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from ml.config.loader import load_all, load_settings
from ml.config.yaml_files import read_yaml
from ml.errors import ConfigError
from tests.cli_process import run_cli


def edit_yaml(path: Path, change: Callable[[dict], None]) -> None:
    data = read_yaml(path)
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_shipped_configuration_is_valid():
    settings = load_all()
    assert set(settings) == {"local", "dev", "staging", "prod"}
    assert settings["prod"].model_name == "hrob.prod.hrob_risk"
    assert settings["prod"].environment.deployment.branch == "release"
    assert settings["staging"].environment.deployment.service_principal.display_name == "staging-sp"
    assert settings["dev"].environment.deployment.run_as == "developer"
    assert settings["local"].environment.deployment is None


def test_config_check_passes_on_shipped_configuration(monkeypatch, capsys):
    code, out, _ = run_cli(["config", "check"], monkeypatch, capsys)
    assert code == 0
    assert "ok 4 environment(s)" in out


def test_environment_overrides_are_merged_over_project():
    local = load_settings("local")
    prod = load_settings("prod")
    assert local.project.training.max_evals == 4
    assert prod.project.training.max_evals == 12
    # untouched keys still come from project.yml
    assert local.project.training.split_config == prod.project.training.split_config


def test_config_dir_from_environment_variable(config_copy, monkeypatch):
    edit_yaml(config_copy / "project.yml", lambda d: d["model"].update(name="other_model"))
    monkeypatch.setenv("HROB_CONFIG_DIR", str(config_copy))
    assert load_settings("dev").model_name == "hrob.dev.other_model"


def _mapped_feature(configs: Path) -> tuple[str, str]:
    groups = yaml.safe_load((configs / "features/feature_mappings.yml").read_text())["groups"]
    group = next(iter(groups))
    return group, groups[group][0]


def _map_twice(configs: Path) -> None:
    _, feature = _mapped_feature(configs)
    edit_yaml(configs / "features/feature_mappings.yml", lambda d: d["groups"].update(duplicate_group=[feature]))


def _set(file: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    return lambda configs: edit_yaml(configs / file, change)


def _write(file: str, text: str) -> Callable[[Path], None]:
    return lambda configs: (configs / file).write_text(text)


def _delete(file: str) -> Callable[[Path], None]:
    return lambda configs: (configs / file).unlink()


CASES = {
    "unknown key": (
        _set("project.yml", lambda d: d["training"].update(max_eval=3)),
        ["project.yml", "training.max_eval", "unknown key", "did you mean 'max_evals'"],
    ),
    "wrong type": (
        _set("project.yml", lambda d: d["training"].update(max_evals="many")),
        ["project.yml", "training.max_evals", "integer", "'many'"],
    ),
    "missing required key": (
        _set("project.yml", lambda d: d["validation"].pop("min_auroc")),
        ["project.yml", "validation.min_auroc", "required key is missing"],
    ),
    "split does not sum to 1": (
        _set("project.yml", lambda d: d["training"]["split_config"].update(test=0.2)),
        ["project.yml", "training.split_config", "must sum to 1", "1.05"],
    ),
    "split has a non-positive part": (
        _set(
            "project.yml",
            lambda d: d["training"]["split_config"].update(train=0.85, validation=0.15, test=0.0),
        ),
        ["project.yml", "training.split_config", "part 'test' must be > 0"],
    ),
    "keep group not in mappings": (
        _set("features/feature_selection_config.yml", lambda d: d["keep"].append("astrology")),
        ["feature_selection_config.yml", "keep[", "group 'astrology' is not in"],
    ),
    "drop feature not in mappings": (
        _set("features/feature_selection_config.yml", lambda d: d.update(drop=["no_such_feature"])),
        ["feature_selection_config.yml", "drop[0]", "feature 'no_such_feature' is not in"],
    ),
    "feature mapped to two groups": (
        _map_twice,
        ["feature_mappings.yml", "groups.duplicate_group", "also in group"],
    ),
    "monitored population feature never computed": (
        _set("project.yml", lambda d: d["monitoring"].update(population_features=["enrollment__horoscope"])),
        ["project.yml", "monitoring.population_features[0]", "'enrollment__horoscope' is not a feature in"],
    ),
    "unknown imputation strategy": (
        _set("features/imputation.yml", lambda d: d.update(default={"strategy": "guess"})),
        ["imputation.yml", "default.strategy", "'guess'"],
    ),
    "invalid quartz cron": (
        _set(
            "environments/prod.yml",
            lambda d: d["deployment"]["jobs"]["features"]["schedule"].update(quartz_cron="0 11 * * *"),
        ),
        ["prod.yml", "deployment.jobs.features.schedule.quartz_cron", "expected 6 or 7 fields"],
    ),
    "invalid timezone": (
        _set(
            "environments/staging.yml",
            lambda d: d["deployment"]["jobs"]["training"]["schedule"].update(timezone="Mars/Olympus_Mons"),
        ),
        ["staging.yml", "deployment.jobs.training.schedule.timezone", "unknown timezone 'Mars/Olympus_Mons'"],
    ),
    "empty search space": (
        _set("project.yml", lambda d: d["training"].update(search_space={})),
        ["project.yml", "training.search_space", "search space is empty"],
    ),
    "bound with low above high": (
        _set(
            "project.yml",
            lambda d: d["training"]["search_space"].update(subsample={"type": "uniform", "low": 0.9, "high": 0.5}),
        ),
        ["project.yml", "training.search_space.subsample", "low (0.9) is greater than high (0.5)"],
    ),
    "threshold outside [0, 1]": (
        _set("project.yml", lambda d: d["validation"].update(min_auroc=1.2)),
        ["project.yml", "validation.min_auroc", "less than or equal to 1"],
    ),
    "malformed YAML": (
        _write("project.yml", "model:\n  name: hrob_risk\n  label: [high_risk\ntraining: {}\n"),
        ["project.yml:", "malformed YAML"],
    ),
    "duplicate YAML key": (
        _write("environments/local.yml", "catalog: local\ncatalog: other\n"),
        ["local.yml:2", "duplicate key 'catalog'"],
    ),
    "missing file": (
        _delete("features/imputation.yml"),
        ["imputation.yml", "file not found"],
    ),
    "override breaks a project setting": (
        _set("environments/local.yml", lambda d: d["overrides"]["training"].update(max_evals=0)),
        ["local.yml", "overrides.training.max_evals", "greater than 0"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_mistake_gives_one_line(case, config_copy, monkeypatch, capsys):
    breaks, expected = CASES[case]
    breaks(config_copy)
    code, out, err = run_cli(["config", "check", "--config-dir", str(config_copy)], monkeypatch, capsys)
    message = err.strip()
    assert code == 2, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert len(message.splitlines()) == 1, message
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_malformed_yaml_names_the_line(config_copy):
    (config_copy / "project.yml").write_text("model:\n  name: x\n  label: [oops\ntraining: {}\n")
    with pytest.raises(ConfigError, match=r"project\.yml:\d+: malformed YAML"):
        load_settings("dev", config_copy)


def test_unknown_environment_lists_the_valid_ones(monkeypatch, capsys):
    code, _, err = run_cli(["config", "check", "--env", "qa"], monkeypatch, capsys)
    assert code == 2
    assert "unknown environment 'qa'" in err
    assert re.search(r"dev, local, prod, staging", err)


def test_missing_service_principal_for_a_service_principal_environment(config_copy):
    edit_yaml(config_copy / "environments/prod.yml", lambda d: d["deployment"].pop("service_principal"))
    with pytest.raises(ConfigError, match=r"prod\.yml: deployment: service_principal .* is required"):
        load_settings("prod", config_copy)


def test_invalid_application_id(config_copy):
    edit_yaml(
        config_copy / "environments/staging.yml",
        lambda d: d["deployment"]["service_principal"].update(application_id="staging-sp"),
    )
    expected = r"deployment\.service_principal\.application_id: 'staging-sp' is not"
    with pytest.raises(ConfigError, match=expected):
        load_settings("staging", config_copy)


def test_missing_branch(config_copy):
    edit_yaml(config_copy / "environments/staging.yml", lambda d: d["deployment"].pop("branch"))
    with pytest.raises(ConfigError, match=r"staging\.yml: deployment\.branch: required key is missing"):
        load_settings("staging", config_copy)


def test_unknown_job_in_environment(config_copy):
    edit_yaml(config_copy / "environments/dev.yml", lambda d: d["deployment"]["jobs"].update(reporting={}))
    with pytest.raises(ConfigError, match=r"deployment\.jobs: unknown job 'reporting'"):
        load_settings("dev", config_copy)


@pytest.mark.parametrize(
    ("tiers", "outreach", "message"),
    [
        ([{"name": "high", "top_share": 0.1}], ["high"], "at least two tiers are required"),
        ([{"name": "high", "top_share": 0.3}, {"name": "mid", "top_share": 0.1}, {"name": "rest"}], ["high"],
         r"increasing top_share, got \[0.3, 0.1\]"),
        ([{"name": "high", "top_share": 0.1}, {"name": "rest", "top_share": 0.5}], ["high"], "remove its top_share"),
        ([{"name": "high", "top_share": 0.1}, {"name": "mid", "top_share": 0.3}, {"name": "rest"}], ["mid"],
         "outreach.tiers must be the top tiers"),
        ([{"name": "high", "top_share": 0.1}, {"name": "rest"}], ["top"], "outreach tier 'top' is not one of"),
        ([{"name": "high", "top_share": 1.5}, {"name": "rest"}], ["high"], r"top_share: input should be less than 1"),
    ],
)  # fmt: skip
def test_tiers_are_top_shares_from_the_top_and_outreach_takes_the_top_ones(config_copy, tiers, outreach, message):
    def edit(d):
        d["inference"]["tiers"] = tiers
        d["inference"]["outreach"]["tiers"] = outreach

    edit_yaml(config_copy / "project.yml", edit)
    with pytest.raises(ConfigError, match=message):
        load_settings("dev", config_copy)


def test_capacity_is_the_outreach_tiers_share(config_copy):
    edit_yaml(
        config_copy / "project.yml",
        lambda d: d["inference"].update(
            tiers=[{"name": "high", "top_share": 0.05}, {"name": "mid", "top_share": 0.2}, {"name": "rest"}],
            outreach={"tiers": ["high", "mid"]},
        ),
    )
    assert load_settings("dev", config_copy).project.inference.capacity_share == 0.2


def test_missing_configuration_directory(tmp_path):
    with pytest.raises(ConfigError, match="configuration directory not found"):
        load_settings("dev", tmp_path / "nowhere")


def test_the_deployer_cannot_be_the_jobs_run_as_principal(config_copy):
    def same(d):
        d["deployment"]["deployer"]["application_id"] = d["deployment"]["service_principal"]["application_id"]

    edit_yaml(config_copy / "environments/staging.yml", same)
    with pytest.raises(
        ConfigError,
        match=r"staging\.yml: deployment: deployer and service_principal are the same principal .*must be distinct",
    ):
        load_settings("staging", config_copy)


def test_a_service_principal_environment_needs_a_deployer(config_copy):
    edit_yaml(config_copy / "environments/prod.yml", lambda d: d["deployment"].pop("deployer"))
    with pytest.raises(
        ConfigError, match=r"prod\.yml: deployment: deployer \(application_id, display_name\) is required"
    ):
        load_settings("prod", config_copy)


def test_a_deployed_experiment_under_shared_is_refused(config_copy):
    edit_yaml(config_copy / "environments/prod.yml", lambda d: d.update(experiment_path="/Shared/hrob/prod/hrob_risk"))
    with pytest.raises(ConfigError, match=r"everything under /Shared is 'all users: Can Manage'"):
        load_settings("prod", config_copy)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["deployment"].update(state_container="tfstate-hrob-prod"),
            r"staging and prod share the state container tfstate-hrob-prod",
        ),
        (
            lambda d: d["deployment"]["planner"].update(application_id="7b3d9f5e-1a8c-4e2b-9d6f-3c4a8b0e2f91"),
            r"share the principal 7b3d9f5e-1a8c-4e2b-9d6f-3c4a8b0e2f91",
        ),
        (lambda d: d.update(experiment_path="/hrob-prod/hrob_risk"), r"share the experiment folder /hrob-prod"),
    ],
)
def test_no_two_environments_share_a_principal_state_or_folder(config_copy, change, message):
    from infra.props import check_isolation, environment_props

    edit_yaml(config_copy / "environments/staging.yml", change)
    with pytest.raises(ConfigError, match=message):
        check_isolation([environment_props(env, config_copy) for env in ("dev", "prod", "staging")])
