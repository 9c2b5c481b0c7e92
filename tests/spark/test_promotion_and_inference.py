"""Validation and promotion in the registry, then batch scoring and the outreach list."""

from __future__ import annotations

import dataclasses
from datetime import date

import mlflow
import pytest
from pyspark.sql import functions as F

from ml.data import outputs
from ml.data.store import table_store
from ml.errors import DataError, HrobError
from ml.inference import outreach, scoring
from ml.jobs.entry import parse_date
from ml.registry import client as registry
from ml.registry import promotion, validation
from ml.runtime.tracking import configure_mlflow
from tests.conftest import COHORT_AS_OF

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def with_validation(settings, **changes):
    config = settings.project.validation.model_copy(update=changes)
    return dataclasses.replace(settings, project=settings.project.model_copy(update={"validation": config}))


def another_version(settings, training_run_id: str) -> str:
    """A new challenger: the same logged model registered again (same scores as the champion)."""
    return registry.register(
        f"runs:/{training_run_id}/model",
        settings.model_name,
        training_run_id,
        {},
        description="re-registered for a test",
    )


@pytest.fixture(scope="module")
def champion(trained):
    settings, result = trained
    # Floors a three-trial model on 2,500 members clears; the defaults are for the real cohort.
    settings = with_validation(settings, min_auroc=0.55, min_auprc=0.3)
    configure_mlflow()
    version = result["model_version"]
    decided = validation.run(settings, version, job_run_id="77")
    assert decided["promote"] == "true", decided
    promoted = promotion.run(settings, version)
    assert promoted == {"promoted": "true", "champion_version": version}
    return settings, version, result["training_run_id"]


def test_the_first_version_that_passes_the_minimums_becomes_champion(champion):
    settings, version, _ = champion
    record = registry.by_alias(settings.model_name, registry.CHAMPION)
    assert str(record.version) == version
    assert registry.by_alias(settings.model_name, registry.CHALLENGER) is None, "challenger alias cleared"
    tags = record.tags
    assert tags["validation_outcome"] == "promote (first champion)"
    assert tags["check_min_auroc"] == "pass" and float(tags["challenger_auroc"]) >= 0.55
    assert "Validation (enabled)" in record.description
    report = mlflow.artifacts.load_dict(f"runs:/{tags['validation_run_id']}/validation_report.json")
    assert report["promote"] is True and report["challenger_version"] == version


@pytest.mark.parametrize(
    ("mode", "margin", "moves"),
    [
        ("enabled", 0.0, True),  # equal to the champion, no margin asked: promoted
        ("disabled", 0.0, False),  # not compared, never moved (dry_run: see the degraded challenger)
    ],
)
def test_the_champion_moves_only_when_validation_passed_in_enabled_mode(champion, mode, margin, moves):
    settings, _, run_id = champion
    settings = with_validation(settings, mode=mode, min_improvement=margin)
    before = str(registry.by_alias(settings.model_name, registry.CHAMPION).version)
    challenger = another_version(settings, run_id)
    validation.run(settings, challenger)
    result = promotion.run(settings, challenger)
    after = str(registry.by_alias(settings.model_name, registry.CHAMPION).version)
    assert (after == challenger) is moves and result["promoted"] == str(moves).lower()
    if not moves:
        assert after == before
    assert registry.by_alias(settings.model_name, registry.CHALLENGER) is None
    tags = registry.version(settings.model_name, challenger).tags
    assert tags["validation_mode"] == mode
    if mode != "disabled":
        assert tags["check_beats_champion_auroc"] == ("pass" if margin == 0 else "fail")
        assert "champion_auroc" in tags


def degraded_version(settings, model_name: str) -> str:
    """A challenger trained on shuffled labels: the champion's features and imputation,
    a booster that learned nothing."""
    import tempfile
    from pathlib import Path

    import numpy as np
    import xgboost as xgb

    from ml.inference.model import load_scorer
    from ml.training.job import log_model
    from ml.training.prepare import PreparedData
    from ml.training.scorer import RiskScorer

    scorer, _ = load_scorer(model_name, alias=registry.CHAMPION)
    columns = scorer.imputation.model_columns
    rng = np.random.default_rng(3)
    features = rng.normal(size=(400, len(columns)))
    shuffled = rng.permutation(np.r_[np.ones(120), np.zeros(280)])
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "seed": 3},
        xgb.DMatrix(features, shuffled, feature_names=columns),
        30,
    )
    with mlflow.start_run(run_name="degraded") as run, tempfile.TemporaryDirectory() as tmp:
        artifacts = RiskScorer(booster, scorer.imputation).save(Path(tmp))
        data = PreparedData({}, scorer.imputation, {}, {}, "high_risk", None)
        info = log_model(artifacts, data)
    return registry.register(info.model_uri, model_name, run.info.run_id, {}, description="shuffled labels")


@pytest.mark.parametrize("mode", ["enabled", "dry_run"])
def test_a_degraded_challenger_never_reaches_members(champion, mode):
    settings, _, _ = champion
    settings = with_validation(settings, mode=mode)
    before = str(registry.by_alias(settings.model_name, registry.CHAMPION).version)
    challenger = degraded_version(settings, settings.model_name)
    decided = validation.run(settings, challenger)
    assert decided["promote"] == "false"
    assert promotion.run(settings, challenger)["promoted"] == "false"
    assert str(registry.by_alias(settings.model_name, registry.CHAMPION).version) == before
    tags = registry.version(settings.model_name, challenger).tags
    assert tags["validation_passed"] == "false" and tags["check_beats_champion_auroc"] == "fail"
    assert float(tags["challenger_auroc"]) < float(tags["champion_auroc"])
    expected = "dry run: challenger failed; champion unchanged" if mode == "dry_run" else "reject (challenger failed)"
    assert tags["validation_outcome"] == expected


def test_promote_refuses_a_version_never_validated(champion):
    settings, _, run_id = champion
    challenger = another_version(settings, run_id)
    with pytest.raises(DataError, match=f"version {challenger} of .* has no validation decision"):
        promotion.run(settings, challenger)


# ---------------------------------------------------------------- batch inference


@pytest.fixture(scope="module")
def scored(spark, champion):
    settings, _, _ = champion
    result = scoring.run(settings, COHORT_AS_OF)
    return settings, result, table_store(spark, settings.namespace)


def test_every_open_pregnancy_is_scored_once_with_rank_tier_and_factors(spark, scored):
    settings, result, store = scored
    sources = table_store(spark, settings.environment.source_schema)
    expected = scoring.open_episodes(sources, COHORT_AS_OF).count()
    rows = store.read(outputs.PREDICTIONS).where(F.col("scoring_date") == F.lit(COHORT_AS_OF)).toPandas()
    assert len(rows) == result["rows_scored"] == expected == rows["episode_id"].nunique()
    assert sorted(rows["risk_rank"]) == list(range(1, len(rows) + 1))
    by_rank = rows.sort_values("risk_rank")["risk_score"].to_numpy()
    assert (by_rank[:-1] >= by_rank[1:]).all()
    for tier in settings.project.inference.tiers:
        assert (rows.loc[rows["risk_tier"] == tier.name, "risk_score"] >= tier.min_score).all()
    champion = str(registry.by_alias(settings.model_name, registry.CHAMPION).version)
    assert set(rows["model_version"]) == {champion}
    factors = rows[["top_factor_1", "top_factor_2", "top_factor_3"]]
    assert factors.notna().all().all()
    assert not factors.apply(lambda col: col.str.contains("__")).any().any(), "readable names, not column names"


def test_the_same_scores_as_the_registered_pyfunc_model(spark, scored):
    settings, _, store = scored
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@champion")
    names = [c.name for c in model.metadata.get_input_schema().inputs]
    rows = store.read(outputs.PREDICTIONS).where(F.col("scoring_date") == F.lit(COHORT_AS_OF))
    sample = (
        rows.orderBy("episode_id").limit(40).select("member_id", F.col("feature_as_of").alias("as_of"), "risk_score")
    )
    joined = sample.join(store.read(outputs.FEATURES), ["member_id", "as_of"]).toPandas()
    expected = model.predict(joined[names].astype("float64"))["risk_score"].to_numpy()
    assert len(joined) == 40
    assert joined["risk_score"].to_numpy() == pytest.approx(expected, abs=1e-5)


def test_rescoring_a_date_replaces_it_and_keeps_the_others(spark, scored):
    settings, _, store = scored
    other = date(2026, 5, 1)
    scoring.run(settings, other)
    before = {
        r.scoring_date: r["count"] for r in store.read(outputs.PREDICTIONS).groupBy("scoring_date").count().collect()
    }
    scoring.run(settings, COHORT_AS_OF)
    after = {
        r.scoring_date: r["count"] for r in store.read(outputs.PREDICTIONS).groupBy("scoring_date").count().collect()
    }
    assert before == after and set(after) == {other, COHORT_AS_OF}


def test_the_outreach_list_is_the_top_of_the_configured_tiers(spark, scored, capsys):
    settings, result, store = scored
    summary = outreach.run(settings, COHORT_AS_OF)
    rows = store.read(outputs.OUTREACH).where(F.col("scoring_date") == F.lit(COHORT_AS_OF)).toPandas()
    config = settings.project.inference.outreach
    assert len(rows) == summary["outreach_members"] <= config.max_members
    assert set(rows["risk_tier"]) <= set(config.tiers)
    predictions = store.read(outputs.PREDICTIONS).where(F.col("scoring_date") == F.lit(COHORT_AS_OF))
    eligible = predictions.where(F.col("risk_tier").isin(config.tiers)).count()
    assert len(rows) == min(eligible, config.max_members)
    assert sorted(rows["risk_rank"]) == list(range(1, len(rows) + 1))
    printed = capsys.readouterr().out
    assert "all scored" in printed and f"{result['rows_scored']:,}" in printed


def test_a_failed_scoring_leaves_the_predictions_intact(spark, scored, monkeypatch):
    settings, _, store = scored
    before = store.read(outputs.PREDICTIONS).cache()
    expected = before.count()

    def exploding(*args):
        from ml.inference.model import score

        out = score(*args)
        return out.withColumn(
            "risk_score",
            F.when(F.col("member_id") % 7 == 3, F.raise_error(F.lit("node lost"))).otherwise(F.col("risk_score")),
        )

    monkeypatch.setattr(scoring, "score", exploding)
    with pytest.raises(Exception, match="node lost"):
        scoring.run(settings, COHORT_AS_OF)
    after = store.read(outputs.PREDICTIONS)
    assert after.count() == expected and after.exceptAll(before).count() == 0
    before.unpersist()


def test_bad_input_stops_with_one_line_and_writes_nothing(spark, scored):
    settings, _, store = scored
    version = store.read(outputs.PREDICTIONS).count()
    with pytest.raises(DataError, match=r"no pregnancy is open on 1990-01-01: nothing to score"):
        scoring.run(settings, date(1990, 1, 1))
    nobody = dataclasses.replace(
        settings,
        project=settings.project.model_copy(
            update={"model": settings.project.model.model_copy(update={"name": "never_trained"})}
        ),
    )
    with pytest.raises(DataError, match=r"has no alias @champion \(run the training job first\)"):
        scoring.run(nobody, COHORT_AS_OF)
    with pytest.raises(HrobError, match=r"--scoring-date: '15/06/2026' is not a date \(expected YYYY-MM-DD\)"):
        parse_date("15/06/2026", "--scoring-date")
    assert store.read(outputs.PREDICTIONS).count() == version


def test_features_the_model_needs_but_the_table_lacks(spark, scored):
    from ml.inference.model import check_features, load_scorer

    settings, _, store = scored
    scorer, _ = load_scorer(settings.model_name, alias=registry.CHAMPION)
    thin = store.read(outputs.FEATURES).drop(scorer.features[0])
    with pytest.raises(DataError, match=rf"lacks 1 features the model needs \(first: {scorer.features[0]}\)"):
        check_features(scorer, thin, "the feature table")
