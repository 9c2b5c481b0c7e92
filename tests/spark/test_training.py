"""Training end to end on the test cohort: the search, what MLflow records, registration,
determinism, and bad input that must register nothing."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from ml.config.models import QUniform
from ml.errors import ConfigError
from ml.registry import client as registry
from ml.runtime.tracking import configure_mlflow
from ml.training.job import run as train
from tests.conftest import with_training

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_training_registers_a_challenger_linked_to_its_run(trained):
    settings, result = trained
    configure_mlflow()
    version = registry.version(settings.model_name, result["model_version"])
    assert version.tags["run_id"] == result["training_run_id"] == version.run_id
    assert version.tags["job_run_id"] == mlflow.get_run(version.run_id).data.tags["job_run_id"]
    assert version.tags["job_run_id"].isdigit(), "the runner's run id, as a Databricks job run's"
    assert version.tags["promoted"] in ("true", "false"), "registered as challenger, then validated and decided"
    # the holdout of 2,000 members' newest nine months holds about 140 test episodes: its
    # AUROC is known to +/-0.1, so only its record is checked here; quality is the
    # benchmark's job (benchmarks/training_quality.py) and the gate's (tests/spark/test_gate_statistics.py)
    assert (
        0 < float(version.tags["test_auroc"]) < 1
        and version.tags["test_auroc"] == f"{float(version.tags['test_auroc']):.4f}"
    )


def test_every_trial_is_a_nested_run_with_params_and_validation_metrics(trained):
    settings, result = trained
    configure_mlflow()
    parent = mlflow.get_run(result["training_run_id"])
    children = mlflow.search_runs(
        experiment_ids=[parent.info.experiment_id],
        output_format="list",
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert len(children) == int(parent.data.params["trials_run"]) == 3
    for child in children:
        assert set(settings.project.training.search_space) <= set(child.data.params)
        for metric in ("auroc", "auprc", "log_loss", "brier", "precision_top5", "recall_top10"):
            assert f"val_{metric}" in child.data.metrics
    best = max(children, key=lambda r: r.data.metrics["val_auroc"])
    assert parent.data.params["best_max_depth"] == best.data.params["max_depth"]


def test_the_parent_run_logs_the_report_and_a_model_without_member_rows(trained):
    _, result = trained
    configure_mlflow()
    run = mlflow.get_run(result["training_run_id"])
    assert len(run.data.tags["git_commit"]) >= 7
    assert run.data.params["feature_as_of"] <= "2026-06-15"
    for metric in ("test_auroc", "test_auprc", "test_log_loss", "test_brier", "test_precision_top10"):
        assert metric in run.data.metrics
    folder = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="report"))
    expected = {
        "feature_importance.csv",
        "feature_importance.png",
        "roc_curve.png",
        "precision_recall_curve.png",
        "calibration_curve.png",
        "subgroup_metrics.csv",
        "config_merged.yml",
        "imputation.json",
        "feature_descriptions.json",
    }
    assert expected <= {p.name for p in folder.iterdir()}
    subgroups = (folder / "subgroup_metrics.csv").read_text()
    assert "race_ethnicity" in subgroups and "age_band" in subgroups and "rurality" in subgroups
    header = subgroups.splitlines()[0].split(",")
    assert header[-3:] == ["flagged_share", "sensitivity", "ppv"], "the model card's subgroup table"
    importance = pd.read_csv(folder / "feature_importance.csv")
    assert not importance["description"].str.contains("__").any(), "every model column has a readable name"
    logged = (folder / "config_merged.yml").read_text()
    assert yaml.safe_load(logged)["project"]["training"]["max_evals"] == 3, "the environment's overrides merged"
    # ML settings only: no workspace, subscription, principal or vault ids, no e-mail addresses
    assert "platform" not in yaml.safe_load(logged)["project"] and "deployment" not in logged
    identifiers = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-|@[a-z0-9-]+\.|/subscriptions/|https?://|kv-|azuredatabricks"
    assert not re.search(identifiers, logged, re.IGNORECASE), re.search(identifiers, logged, re.IGNORECASE)
    model = Path(mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/model"))
    spec = yaml.safe_load((model / "MLmodel").read_text())
    assert "signature" in spec and "saved_input_example_info" not in spec
    assert not list(model.rglob("input_example*"))
    features = json.loads((model / "artifacts" / "features.json").read_text())["features"]
    assert len(features) > 400
    # no member identifiers anywhere in what was logged
    for path in [*folder.iterdir(), *model.rglob("*.json")]:
        if path.suffix in (".csv", ".json", ".yml"):
            assert "member_id" not in path.read_text() or path.name == "config_merged.yml"


def test_the_registered_model_scores_a_frame_with_its_imputation(trained, spark, cohort_settings):
    import pandas as pd

    settings, result = trained
    configure_mlflow()
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{result['model_version']}")
    names = [c.name for c in model.metadata.get_input_schema().inputs if c.name != "landmark"]
    frame = pd.DataFrame({name: [None, 1.0] for name in names}, dtype="float64")
    scores = model.predict(frame)["risk_score"]
    assert len(scores) == 2 and scores.between(0, 1).all()
    # recalibrated by landmark when given one, with the pooled intercept when not
    by_landmark = model.predict(frame.assign(landmark=["week_28", "identification"]))["risk_score"]
    assert by_landmark.between(0, 1).all() and not (by_landmark == scores).all()


def test_the_search_is_deterministic(cohort_settings, training_set):
    """Same data and seed: the same trials and the same best parameters."""
    from ml.runtime.spark import get_spark
    from ml.training.estimator import num_workers
    from ml.training.prepare import prepare
    from ml.training.search import search

    settings = with_training(cohort_settings, max_evals=2, early_stopping_trials=2)
    small = dataclasses.replace(
        settings,
        features=dataclasses.replace(
            settings.features,
            selection=settings.features.selection.model_copy(update={"keep": ["area"]}),
        ),
    )
    area = small.features.selected()  # the same rows with the area group's columns only
    keep = [c for c in training_set.frame.columns if c not in training_set.features or c in area]
    narrow = dataclasses.replace(training_set, frame=training_set.frame.select(*keep), features=area)
    data = prepare(small, narrow, num_workers(get_spark()))
    try:
        configure_mlflow("/Shared/hrob/test/determinism")
        runs = []
        for _ in range(2):
            with mlflow.start_run():
                runs.append(search(data, small.project.training, progress=False))
    finally:
        data.unpersist()
    first, second = runs
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert [round(t.metrics["auroc"], 10) for t in first.trials] == [
        round(t.metrics["auroc"], 10) for t in second.trials
    ]
    assert first.best.params == second.best.params


def test_a_search_space_that_cannot_be_sampled_registers_nothing(cohort_settings, features_written):
    configure_mlflow()
    before = len(mlflow.MlflowClient().search_model_versions(f"name = '{cohort_settings.model_name}'"))
    space = dict(cohort_settings.project.training.search_space)
    space["max_depth"] = QUniform(type="quniform", low=0, high=0.4, q=1)
    with pytest.raises(ConfigError, match=r"training.search_space.max_depth: sampled 0, must be at least 1"):
        train(with_training(cohort_settings, search_space=space))
    after = len(mlflow.MlflowClient().search_model_versions(f"name = '{cohort_settings.model_name}'"))
    assert after == before
