"""Validation and promotion in the registry, then batch scoring and the outreach list."""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, date, datetime, timedelta

import mlflow
import pytest
from pyspark.sql import functions as F

from ml.config.models import BootstrapSettings
from ml.data import outputs
from ml.data.store import table_store
from ml.errors import DataError, HrobError
from ml.inference import outreach, scoring
from ml.inference.model import load_scorer
from ml.jobs import rollback as rollback_job
from ml.jobs.entry import parse_date
from ml.registry import client as registry
from ml.registry import promotion, validation
from ml.registry.rollback import rollback
from ml.runtime.tracking import configure_mlflow
from tests.conftest import COHORT_AS_OF, fingerprint, with_training

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def with_validation(settings, **changes):
    config = settings.project.validation.model_copy(update=changes)
    return dataclasses.replace(settings, project=settings.project.model_copy(update={"validation": config}))


TRAINING_TAGS = ("git_commit", "job_run_id", "as_of", registry.SPLIT_SEED_TAG, "feature_as_of", "test_auroc")


def another_version(settings, training_run_id: str, tags: dict | None = None) -> str:
    """A new challenger: the same logged model registered again (same scores as the champion)."""
    return registry.register(
        f"runs:/{training_run_id}/model",
        settings.model_name,
        training_run_id,
        tags or {},
        description="re-registered for a test",
    )


@pytest.fixture(scope="module")
def champion(cohort_settings, trained):
    """A poor first champion (let in with the floors off), then the trained model (the
    drift flow's training run, registered under the test cohort's model) as a truly better
    challenger that replaces it: (settings, champion version, its training run, the previous
    champion's version)."""
    trained_settings, result = trained
    settings = with_training(cohort_settings, max_evals=3, early_stopping_trials=3)
    configure_mlflow()
    tags = registry.version(trained_settings.model_name, result["model_version"]).tags
    kept = {name: tags[name] for name in TRAINING_TAGS}  # what training tagged, not its earlier decision
    result = {**result, "model_version": another_version(settings, result["training_run_id"], kept)}
    # Floors a three-trial model on 2,000 members clears, and a narrower interval: this
    # holdout has about 190 episodes (the statistics are tests/unit/test_promotion_rules.py's).
    settings = with_validation(
        settings, min_auroc=0.5, min_auprc=0.2, bootstrap=BootstrapSettings(replicates=300, confidence=0.6, seed=1)
    )
    configure_mlflow()
    version = result["model_version"]
    weak = degraded_version(settings.model_name, version)
    floors_off = with_validation(settings, min_auroc=0.0, min_auprc=0.0)
    assert validation.run(floors_off, weak, job_run_id="76")["promote"] == "true"
    assert promotion.run(floors_off, weak)["promoted"] == "true"
    decided = validation.run(settings, version, job_run_id="77")
    assert decided["promote"] == "true", registry.version(settings.model_name, version).description
    promoted = promotion.run(settings, version)
    assert promoted == {"promoted": "true", "champion_version": version}
    return settings, version, result["training_run_id"], weak


def test_promoting_the_champion_again_changes_nothing(champion, capsys):
    settings, version, _, weak = champion
    name = settings.model_name
    assert promotion.run(settings, version) == {"promoted": "false", "champion_version": version}
    assert f"v{version} is already the champion; nothing changed" in capsys.readouterr().out
    assert str(registry.by_alias(name, registry.CHAMPION).version) == version
    assert str(registry.by_alias(name, registry.PREVIOUS_CHAMPION).version) == weak


def test_missing_or_corrupt_model_files_are_one_line(champion):
    """A truncated booster, a deleted one, and a version whose files are gone: one line
    naming the version and the way out, never xgboost's or MLflow's traceback."""
    from pathlib import Path
    from urllib.parse import urlparse

    from ml.errors import ModelError

    settings, version, *_ = champion
    name = settings.model_name
    root = Path(urlparse(registry.client().get_model_version_download_uri(name, version)).path)
    booster = next(root.rglob("booster.json"))
    original = booster.read_bytes()
    corrupt = rf"^model {name} version {version}: its files are incomplete or corrupt \(.+\); roll back"
    try:
        booster.write_bytes(original[: len(original) // 2])
        with pytest.raises(ModelError, match=corrupt):
            load_scorer(name, version=version)
        booster.unlink()
        with pytest.raises(ModelError, match=corrupt):
            load_scorer(name, version=version)
        root.rename(root.with_name(root.name + ".moved"))
        try:
            with pytest.raises(ModelError, match=rf"^model {name} version {version}: its files cannot be read"):
                load_scorer(name, version=version)
        finally:
            root.with_name(root.name + ".moved").rename(root)
    finally:
        booster.write_bytes(original)
    assert load_scorer(name, version=version)[1] == version


def test_a_better_challenger_replaces_the_champion_which_is_kept_as_previous(champion):
    settings, version, _, weak = champion
    name = settings.model_name
    assert str(registry.by_alias(name, registry.CHAMPION).version) == version
    assert str(registry.by_alias(name, registry.PREVIOUS_CHAMPION).version) == weak
    assert registry.by_alias(name, registry.CHALLENGER) is None, "challenger alias cleared"
    record = registry.version(name, version)
    tags = record.tags
    assert tags["validation_outcome"] == "promote" and tags["validation_champion_version"] == weak
    assert tags["check_beats_champion_auroc"] == "pass" and tags["interval_beats_champion_auroc"].startswith("+")
    assert tags["holdout_split_seeds"] == "1729" and len(tags["holdout_digest"]) == 64
    assert tags[registry.SPLIT_SEED_TAG] == "1729", "training records the member split it used"
    # a holdout this small leaves cells unjudged: named, never silently skipped
    unjudged = {k: v for k, v in tags.items() if v.startswith("not evaluated (n=")}
    assert unjudged and "NOT EVALUATED" in record.description and "Validation (enabled): promote." in record.description
    report = mlflow.artifacts.load_dict(f"runs:/{tags['validation_run_id']}/validation_report.json")
    assert report["promote"] is True and report["challenger_version"] == version
    assert {f"check_{n['name']}" for n in report["not_evaluated"]} == set(unjudged)
    beats = next(c for c in report["checks"] if c["name"] == "beats_champion_auroc")
    assert beats["low"] > 0 and beats["low"] <= beats["value"] <= beats["high"]
    assert report["holdout"]["digest"] == tags["holdout_digest"]
    landmarks = [lm.name for lm in settings.project.landmarks]
    assert set(report["challenger_landmarks"]) <= set(landmarks) and report["challenger_landmarks"]
    run = mlflow.get_run(tags["validation_run_id"])
    first = next(iter(report["challenger_landmarks"]))
    assert run.data.metrics[f"challenger_{first}_rows"] == report["challenger_landmarks"][first]["rows"]
    assert run.data.metrics["beats_champion_auroc_low"] == pytest.approx(beats["low"])


def test_a_tie_keeps_the_champion_even_after_the_selection_and_the_split_changed(champion):
    """The champion's own model again (a tie), validated after a feature it uses left the
    selection (the holdout is built from the union of both models' features) and as if
    trained on another member split (the holdout leaves out validation members under either)."""
    settings, version, run_id, _ = champion
    scorer, _ = load_scorer(settings.model_name, version=version)
    used = scorer.used_features[0]
    selection = settings.features.selection
    selection = selection.model_copy(update={"drop": [*selection.drop, used]})
    narrower = dataclasses.replace(settings, features=dataclasses.replace(settings.features, selection=selection))
    assert used not in narrower.features.selected()
    challenger = another_version(settings, run_id)
    registry.set_tags(settings.model_name, challenger, {registry.SPLIT_SEED_TAG: "99"})

    assert validation.run(narrower, challenger)["promote"] == "false"  # no missing-feature error
    assert promotion.run(narrower, challenger)["promoted"] == "false"
    assert str(registry.by_alias(settings.model_name, registry.CHAMPION).version) == version
    record = registry.version(settings.model_name, challenger)
    assert record.tags["interval_beats_champion_auroc"] == "+0.0000 [+0.0000, +0.0000]"
    assert "inconclusive or a tie: champion kept" in record.description
    assert record.tags["holdout_split_seeds"] == "99,1729"
    champions = registry.version(settings.model_name, version).tags
    # validation members under either seed recalibrated one of the models: both are left out
    kept = int(record.tags["holdout_rows"]) / int(champions["holdout_rows"])
    assert 0.5 < kept < 0.95, f"{kept:.2f} of the rows: no validation member under either split"


def test_disabled_mode_never_compares_or_moves_the_champion(champion):
    settings, version, run_id, _ = champion
    settings = with_validation(settings, mode="disabled")
    challenger = another_version(settings, run_id)
    validation.run(settings, challenger)
    assert promotion.run(settings, challenger)["promoted"] == "false"
    assert str(registry.by_alias(settings.model_name, registry.CHAMPION).version) == version
    tags = registry.version(settings.model_name, challenger).tags
    assert tags["validation_mode"] == "disabled" and not any(k.startswith("check_") for k in tags)


def degraded_version(model_name: str, like: str) -> str:
    """A model that learned nothing (the same score for everyone, AUROC 0.5), with the
    features and imputation of version `like`. (A booster fitted to shuffled labels on
    random data is not enough: its splits land on real features and rank members.)"""
    import tempfile
    from pathlib import Path

    import numpy as np
    import xgboost as xgb

    from ml.inference.model import load_scorer
    from ml.training.job import log_model
    from ml.training.prepare import PreparedData
    from ml.training.scorer import RiskScorer

    scorer, _ = load_scorer(model_name, version=like)
    columns = scorer.imputation.model_columns
    rng = np.random.default_rng(3)
    features = rng.normal(size=(400, len(columns)))
    shuffled = rng.permutation(np.r_[np.ones(120), np.zeros(280)])
    booster = xgb.train(  # no split can be made: every member gets the same score
        {"objective": "binary:logistic", "max_depth": 3, "seed": 3, "min_child_weight": 1e9},
        xgb.DMatrix(features, shuffled, feature_names=columns),
        30,
    )
    with mlflow.start_run(run_name="degraded") as run, tempfile.TemporaryDirectory() as tmp:
        artifacts = RiskScorer(booster, scorer.imputation).save(Path(tmp))
        data = PreparedData({}, scorer.imputation, {}, {}, "high_risk", None)
        info = log_model(artifacts, data)
    return registry.register(info.model_uri, model_name, run.info.run_id, {}, description="shuffled labels")


def test_a_degraded_challenger_never_reaches_members(champion):
    settings, version, _, _ = champion
    before = str(registry.by_alias(settings.model_name, registry.CHAMPION).version)
    challenger = degraded_version(settings.model_name, version)
    decided = validation.run(settings, challenger)
    assert decided["promote"] == "false"
    assert (
        decided["decision"].startswith("reject (challenger failed): ") and "beats_champion_auroc" in decided["decision"]
    )
    assert "(n=" in decided["decision"], "the rejection names its checks, intervals and rows"
    assert promotion.run(settings, challenger)["promoted"] == "false"
    assert str(registry.by_alias(settings.model_name, registry.CHAMPION).version) == before
    tags = registry.version(settings.model_name, challenger).tags
    assert tags["validation_passed"] == "false" and tags["check_beats_champion_auroc"] == "fail"
    assert float(tags["challenger_auroc"]) < float(tags["champion_auroc"])
    assert tags["validation_outcome"] == "reject (challenger failed)"  # dry_run: tests/unit/test_promotion_rules.py


def test_promote_refuses_a_version_never_validated(champion):
    settings, _, run_id, _ = champion
    challenger = another_version(settings, run_id)
    with pytest.raises(DataError, match=f"version {challenger} of .* has no validation decision"):
        promotion.run(settings, challenger)


def test_rollback_returns_the_previous_champion_once_and_records_why(champion):
    settings, version, _, weak = champion
    name = settings.model_name
    when = datetime(2026, 6, 16, 9, 30, tzinfo=UTC)
    result = rollback(name, "  PPV fell   on week_28 ", by="oncall@plan.org", at=when)
    assert result["champion_version"] == weak and result["rolled_back_version"] == version
    # the deployed rollback job (what on call starts in staging and prod) is this, nothing more
    with pytest.raises(DataError, match="no previous champion to return to"):
        rollback_job.run(argparse.Namespace(reason="again", requested_by="oncall@plan.org"), settings)
    assert str(registry.by_alias(name, registry.CHAMPION).version) == weak
    assert registry.by_alias(name, registry.PREVIOUS_CHAMPION) is None
    bad, good = registry.version(name, version), registry.version(name, weak)
    assert bad.tags["rolled_back_reason"] == "PPV fell on week_28" and bad.tags["rolled_back_by"] == "oncall@plan.org"
    assert bad.tags["rolled_back_at"] == "2026-06-16T09:30:00+00:00" and good.tags["restored_from"] == version
    assert "Rolled back by oncall@plan.org" in bad.description and "Restored as champion" in good.description
    # Back to the trained champion for the scoring tests: its validation against `weak` still holds.
    assert promotion.run(settings, version)["promoted"] == "true"
    assert str(registry.by_alias(name, registry.PREVIOUS_CHAMPION).version) == weak


def test_rollback_needs_a_reason(champion):
    settings, *_ = champion
    with pytest.raises(DataError, match="a rollback needs a reason"):
        rollback(settings.model_name, "   ")


# ---------------------------------------------------------------- batch inference


@pytest.fixture(scope="module")
def scored(spark, champion):
    settings, *_ = champion
    result = scoring.run(settings, COHORT_AS_OF)
    return settings, result, table_store(spark, settings.namespace)


def test_each_ongoing_pregnancy_is_scored_once_at_a_landmark_it_reached_this_week(spark, scored):
    settings, result, store = scored
    sources = table_store(spark, settings.environment.source_schema)
    config = settings.project.inference
    due = scoring.due_rows(sources.require("episodes"), settings.project.landmarks, config, COHORT_AS_OF)
    expected = {r.episode_id: r.landmark for r in due.collect()}
    rows = store.read(outputs.PREDICTIONS).where(F.col("scoring_date") == F.lit(COHORT_AS_OF)).toPandas()
    assert len(rows) == result["rows_scored"] == len(expected) - result["skipped_without_snapshot"] > 20
    assert rows["episode_id"].is_unique and rows["member_id"].is_unique, "one prediction per member and date"
    assert all(expected[e] == lm for e, lm in zip(rows["episode_id"], rows["landmark"], strict=True))
    assert (rows["feature_as_of"] <= rows["landmark_date"]).all()
    assert rows["days_since_landmark"].between(0, config.max_landmark_age_days).all()
    assert (rows["expected_delivery_date"] >= COHORT_AS_OF).all(), "never past the expected delivery"
    weeks_today = rows["gestational_age_days"] / 7
    assert (weeks_today >= rows["landmark_week"] - 0.05).all() and weeks_today.between(0, 42).all()
    assert sorted(rows["risk_rank"]) == list(range(1, len(rows) + 1))
    by_rank = rows.sort_values("risk_rank")["risk_score"].to_numpy()
    assert (by_rank[:-1] >= by_rank[1:]).all()
    # tiers are the top shares of the champion's holdout scores
    scorer, champion = load_scorer(settings.model_name, alias=registry.CHAMPION)
    cutoffs = scoring.tier_cutoffs(config.tiers, scorer.reference)
    assert scorer.reference.rows > 100 and list(cutoffs.values()) == sorted(cutoffs.values(), reverse=True)
    for tier, cutoff in cutoffs.items():
        assert (rows.loc[rows["risk_tier"] == tier, "risk_score"] >= cutoff).all()
    assert set(rows["model_version"]) == {champion}
    factors = rows[["top_factor_1", "top_factor_2", "top_factor_3"]]
    assert factors.notna().all().all()
    assert not factors.apply(lambda col: col.str.contains("__")).any().any(), "readable names, not column names"


def test_only_pregnancies_under_way_with_a_landmark_reached_within_the_configured_days_are_due(spark):
    """Never past the expected delivery (+ margin), never after a delivery's or a loss's
    claim arrived, never at a landmark older than max_landmark_age_days, once per landmark."""
    from ml.config.models import InferenceSettings, Landmark

    day = date(2026, 6, 15)
    lmp = day - timedelta(days=7 * 20 + 3)  # week 20 reached 3 days ago
    landmarks = [Landmark(name="identification"), Landmark(name="week_20", week=20)]
    config = InferenceSettings.model_validate(
        {
            "tiers": [{"name": "high", "top_share": 0.1}, {"name": "rest"}],
            "outreach": {"tiers": ["high"]},
            "max_landmark_age_days": 7,
            "past_due_margin_days": 0,
        }
    )
    long_ago = day - timedelta(days=7 * 41)  # expected delivery a week ago
    edd = lambda start: start + timedelta(days=280)  # noqa: E731
    rows = [
        # episode, member, lmp, identified, expected delivery, delivery, delivery received, loss, loss received
        (1, 1, lmp, lmp + timedelta(days=50), edd(lmp), None, None, None, None),  # due at week 20
        (2, 2, lmp, lmp + timedelta(days=50), edd(lmp), lmp + timedelta(days=139), day - timedelta(days=1),
         None, None),  # delivered, claim received
        (3, 3, lmp, lmp + timedelta(days=50), edd(lmp), None, None, lmp + timedelta(days=120),
         day - timedelta(days=2)),  # loss received
        (4, 4, long_ago, day - timedelta(days=2), edd(long_ago), None, None, None, None),  # past its EDD
        (5, 5, lmp - timedelta(days=30), lmp, edd(lmp), None, None, None, None),  # week 20 33 days ago
        (6, 6, lmp, day - timedelta(days=2), edd(lmp), None, None, None, None),  # identified late: identification
        (7, 7, lmp, lmp + timedelta(days=50), edd(lmp), None, None, None, None),  # scored at week 20 already
    ]  # fmt: skip
    episodes = spark.createDataFrame(
        rows,
        "episode_id long, member_id long, lmp_date date, identified_date date, expected_delivery_date date, "
        "delivery_date date, delivery_recorded_date date, loss_date date, loss_recorded_date date",
    )
    earlier = spark.createDataFrame([(7, "week_20")], "episode_id long, landmark string")
    due = {r.episode_id: r for r in scoring.due_rows(episodes, landmarks, config, day, earlier).collect()}
    assert set(due) == {1, 6}
    assert due[1].landmark == "week_20" and due[1].days_since_landmark == 3 and due[1].gestational_age_days == 143
    assert due[6].landmark == "identification" and due[6].days_since_landmark == 1
    lenient = config.model_copy(update={"max_landmark_age_days": 40, "past_due_margin_days": 28})
    assert {r.episode_id for r in scoring.due_rows(episodes, landmarks, lenient, day).collect()} == {1, 4, 5, 6, 7}
    # a range scores each landmark on the date a daily run would have, once
    start = day - timedelta(days=20)
    ranged = {
        (r.episode_id, r.landmark): r.scoring_date
        for r in scoring.due_rows(episodes, landmarks, config, day, start=start).collect()
    }
    daily: dict = {}
    for offset in range(21):
        d = start + timedelta(days=offset)
        before = spark.createDataFrame(list(daily) or [(0, "none")], "episode_id long, landmark string")
        for r in scoring.due_rows(episodes, landmarks, config, d, before).collect():
            daily[(r.episode_id, r.landmark)] = d
    assert ranged == daily and ranged[(1, "week_20")] == day - timedelta(days=3)


def test_the_same_scores_as_the_registered_pyfunc_model(spark, scored):
    settings, _, store = scored
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@champion")
    names = [c.name for c in model.metadata.get_input_schema().inputs]
    assert "landmark" in names, "the recalibration reads the landmark"
    rows = store.read(outputs.PREDICTIONS).where(F.col("scoring_date") == F.lit(COHORT_AS_OF))
    sample = (
        rows.orderBy("episode_id")
        .limit(20)
        .select("member_id", F.col("feature_as_of").alias("as_of"), "risk_score", "landmark")
    )
    joined = sample.join(store.read(outputs.FEATURES), ["member_id", "as_of"]).toPandas()
    features = [n for n in names if n != "landmark"]
    request = joined[features].astype("float64").assign(landmark=joined["landmark"])
    expected = model.predict(request)["risk_score"].to_numpy()
    assert len(joined) == 20
    assert joined["risk_score"].to_numpy() == pytest.approx(expected, abs=1e-5)
    served = served_scores(settings, request)
    assert served == pytest.approx(joined["risk_score"].to_numpy(), abs=1e-5), "served as scored in batch"


def served_scores(settings, request):
    """`hrob model serve` started as a user starts it, asked over HTTP, stopped; and a
    request without some features answered 400 with what is missing."""
    import json
    import subprocess
    import urllib.error
    import urllib.request

    from tests.cli_process import HROB, free_port, wait_until_up

    port = free_port()
    server = subprocess.Popen(
        [*HROB, "model", "serve", "--env", settings.env, "--config-dir", str(settings.config_dir), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def post(frame):
        body = json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}).encode()
        ask = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(ask, timeout=60) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    try:
        wait_until_up(f"{url}/ping", server)
        status, answer = post(request)
        assert status == 200, answer
        scores = [row["risk_score"] for row in answer["predictions"]]
        status, refused = post(request.drop(columns=request.columns[:3]))
        assert status == 400, refused
        assert "model features are missing from the input" in refused["message"], refused["message"]
        return scores
    finally:
        server.terminate()
        server.wait(30)


def test_rescoring_a_date_replaces_it_and_each_landmark_is_scored_once(spark, scored):
    settings, _, store = scored
    key = ["episode_id", "landmark", "risk_score"]
    first = store.read(outputs.PREDICTIONS).where(F.col("scoring_date") == F.lit(COHORT_AS_OF)).select(*key).cache()
    scoring.run(settings, COHORT_AS_OF)  # a rerun: the same episodes, the same scores, once
    again = store.read(outputs.PREDICTIONS).where(F.col("scoring_date") == F.lit(COHORT_AS_OF)).select(*key)
    assert again.exceptAll(first).count() == 0 and first.exceptAll(again).count() == 0
    later = COHORT_AS_OF + timedelta(days=3)
    with pytest.raises(DataError, match=r"newest snapshot 2026-06-1\d, older than 0 day\(s\) before the scoring date"):
        scoring.run(settings, later)  # no feature run since: by default scoring waits for one
    inference = settings.project.inference.model_copy(update={"max_feature_age_days": 3})
    lenient = dataclasses.replace(settings, project=settings.project.model_copy(update={"inference": inference}))
    result = scoring.run(lenient, later)  # allowed: later landmarks lack a snapshot
    counts = {
        r.scoring_date: r["count"] for r in store.read(outputs.PREDICTIONS).groupBy("scoring_date").count().collect()
    }
    assert counts.get(later, 0) == result["rows_scored"] and counts[COHORT_AS_OF] == first.count()
    assert result["skipped_without_snapshot"] > 0
    all_rows = store.read(outputs.PREDICTIONS)
    assert all_rows.count() == all_rows.select("episode_id", "landmark").distinct().count(), "a landmark twice"
    first.unpersist()


def test_the_outreach_list_ranks_new_information_and_lists_detections_apart(spark, scored, capsys):
    from ml.features.landmarks import KNOWN_FLAGS, PREGNANCY_HYPERTENSION

    settings, result, store = scored
    summary = outreach.run(settings, COHORT_AS_OF)
    rows = store.read(outputs.OUTREACH).where(F.col("scoring_date") == F.lit(COHORT_AS_OF)).toPandas()
    config = settings.project.inference.outreach
    ranked = rows[rows["section"] == "ranked"]
    assert len(ranked) == summary["outreach_members"] <= config.max_members
    assert len(rows) - len(ranked) == summary["already_known"]
    assert set(rows["section"]) <= {"ranked", "already_known"} and set(rows["listing"]) == {"new"}
    assert set(ranked["risk_tier"]) <= set(config.tiers)
    # one rank sequence: the ranked first, then the detections
    ordered = rows.sort_values("outreach_rank")
    assert list(ordered["outreach_rank"]) == list(range(1, len(rows) + 1))
    assert list(ordered["section"]) == sorted(ordered["section"], key=lambda s: s != "ranked")
    # before week 16 first (the aspirin window), then by risk
    window = ranked.sort_values("outreach_rank")["gestational_age_days"] < 7 * config.act_before_week
    assert list(window) == sorted(window, reverse=True)
    for _, part in ranked.sort_values("outreach_rank").groupby(window):
        assert (part["risk_score"].to_numpy()[:-1] >= part["risk_score"].to_numpy()[1:]).all()
    assert rows["reason"].notna().all() and rows["gestational_age"].str.fullmatch(r"\d+w[0-6]d").all()
    assert ranked["known_evidence"].isna().all()
    detected = rows[rows["section"] == "already_known"]
    assert detected["known_evidence"].notna().all() and detected["reason"].str.startswith("already known: ").all()
    # nobody ranked carries, as the plan received it on the day, evidence of what the label counts
    sources = table_store(spark, settings.environment.source_schema)
    predictions = store.read(outputs.PREDICTIONS).where(F.col("scoring_date") == F.lit(COHORT_AS_OF))
    known = outreach.known_at_scoring(sources, predictions).toPandas().set_index("episode_id")
    assert (known.loc[ranked["episode_id"], list(KNOWN_FLAGS)] == 0).all().all()
    onset = known[known[PREGNANCY_HYPERTENSION] > 0].index
    assert set(onset) <= set(detected["episode_id"]), "every detected hypertension of pregnancy is listed"
    printed = capsys.readouterr().out
    assert "all scored" in printed and f"{result['rows_scored']:,}" in printed


def test_a_member_listed_at_an_earlier_landmark_is_marked_already_listed(spark, scored, capsys):
    settings, _, store = scored
    outreach.run(settings, COHORT_AS_OF)
    listed = store.read(outputs.OUTREACH).where(F.col("scoring_date") == F.lit(COHORT_AS_OF))
    episode = listed.orderBy("episode_id").first().episode_id
    later = COHORT_AS_OF + timedelta(days=20)
    fake = store.read(outputs.PREDICTIONS).where(
        (F.col("scoring_date") == F.lit(COHORT_AS_OF)) & (F.col("episode_id") == episode)
    )
    fake = fake.withColumn("scoring_date", F.lit(later)).withColumn("landmark", F.lit("week_28"))
    store.replace_partitions(fake, outputs.PREDICTIONS, "scoring_date", values=[later])
    outreach.run(settings, later)
    row = store.read(outputs.OUTREACH).where(F.col("scoring_date") == F.lit(later)).first()
    assert row.episode_id == episode and row.listing == "already_listed"

    # the date rescored with nobody in an outreach tier: the rerun clears the date and says so
    earlier = fingerprint(store.read(outputs.OUTREACH).where(F.col("scoring_date") == F.lit(COHORT_AS_OF)))
    calm = fake.withColumn("risk_tier", F.lit(settings.project.inference.tiers[-1].name))
    store.replace_partitions(calm, outputs.PREDICTIONS, "scoring_date", values=[later])
    capsys.readouterr()
    assert outreach.run(settings, later)["outreach_members"] == 0
    assert f"nobody is on the outreach list for {later}: its rows from an earlier run were removed" in (
        capsys.readouterr().out
    )
    assert store.read(outputs.OUTREACH).where(F.col("scoring_date") == F.lit(later)).count() == 0
    assert fingerprint(store.read(outputs.OUTREACH).where(F.col("scoring_date") == F.lit(COHORT_AS_OF))) == earlier
    store.replace_partitions(fake.limit(0), outputs.PREDICTIONS, "scoring_date", values=[later])


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
    with pytest.raises(DataError, match=r"no pregnancy is under way on 1990-01-01: nothing to score"):
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


def test_one_prediction_per_member_whatever_the_episodes_say(spark):
    """Two open episodes for one member (the later LMP is scored), an open episode with no
    member (never scored), and the check that stops a write of anything else."""
    rows = [
        (11, 1, date(2026, 1, 5), date(2026, 3, 1)),
        (12, 1, date(2026, 2, 9), date(2026, 4, 1)),  # member 1's later pregnancy
        (21, None, date(2026, 2, 1), date(2026, 3, 1)),
        (31, 3, date(2026, 1, 1), date(2026, 2, 1)),
    ]
    episodes = spark.createDataFrame(
        [(*r, r[2] + timedelta(days=280), None, None, None, None) for r in rows],
        "episode_id long, member_id long, lmp_date date, identified_date date, expected_delivery_date date, "
        "delivery_date date, delivery_recorded_date date, loss_date date, loss_recorded_date date",
    )
    chosen = scoring.open_episodes(episodes, date(2026, 6, 1)).select("member_id", "episode_id").collect()
    assert sorted(chosen) == [(1, 12), (3, 31)]

    day = date(2026, 6, 1)
    doubled = spark.createDataFrame(
        [(1, 11, day), (1, 12, day), (3, 31, day)], "member_id long, episode_id long, scoring_date date"
    )
    with pytest.raises(DataError, match=r"predictions for 2026-06-01: 1 members with no id or more than one"):
        scoring.check_one_per_member(doubled, date(2026, 6, 1))
    nameless = spark.createDataFrame(
        [(None, 21, day), (3, 31, day)], "member_id long, episode_id long, scoring_date date"
    )
    with pytest.raises(DataError, match="1 members with no id"):
        scoring.check_one_per_member(nameless, date(2026, 6, 1))
    scoring.check_one_per_member(doubled.where("episode_id != 11"), date(2026, 6, 1))


# ---------------------------------------------------------------- monitoring


def test_monitoring_writes_one_partition_per_date_and_asks_for_retraining_past_a_threshold(spark, scored):
    """One day of a small cohort (a few dozen predictions): at the default false-alarm limit
    nothing is judged and nothing retrains; with the limit raised (the rows judged whatever
    the noise) and the retrain rule relaxed, crossings ask for retraining, and the rerun
    replaces its date."""
    from ml.config.models import RetrainSettings
    from ml.monitoring.job import run as monitor

    settings, _, store = scored
    config = settings.project.monitoring.model_copy(
        update={"retrain": RetrainSettings(min_new_labels=0, cooldown_days=0)}
    )
    settings = dataclasses.replace(settings, project=settings.project.model_copy(update={"monitoring": config}))
    first = monitor(settings, COHORT_AS_OF)
    written = store.read(outputs.MONITORING).toPandas()
    assert len(written) == first["checks"] and set(written["monitoring_date"]) == {COHORT_AS_OF}
    assert {"score_psi", "feature_psi", "missing_share_change", "tier_rows", "expected_auroc", "retrain"} <= set(
        written["check"]
    )
    features = written[(written["check"] == "feature_psi") & ~written["slice"].str.contains("landmark=")]
    population = settings.project.monitoring.population_features
    top = settings.project.monitoring.top_features
    assert top <= len(features) <= top + len(population), "the top features, then the population's not among them"
    assert features["value"].notna().all() and {f"feature={name}" for name in population} <= set(features["slice"])
    psi = written[written["check"].isin(["score_psi", "feature_psi"])]
    assert psi["threshold"].isna().all() and (psi["false_alarm"] > config.max_false_alarm).all(), "too few rows"
    judged = written[written["threshold"].notna() & written["check"].isin(["missing_share_change"])]
    assert (judged["false_alarm"] <= config.max_false_alarm).all(), "a share that cannot move by chance is judged"
    assert first["retrain"] == "false" and not written["crossed"].any()
    assert written.query("check == 'retrain'")["detail"].item().startswith("not retraining: no threshold crossed")
    assert set(written.columns) == {
        "monitoring_date",
        "model_version",
        "check",
        "slice",
        "value",
        "threshold",
        "crossed",
        "rows",
        "false_alarm",
        "detail",
    }  # fmt: skip  (aggregates only: no member column)

    noisy = config.model_copy(update={"max_false_alarm": 0.49999})
    lenient = dataclasses.replace(settings, project=settings.project.model_copy(update={"monitoring": noisy}))
    second = monitor(lenient, COHORT_AS_OF)  # the same date again, judged whatever the noise
    again = store.read(outputs.MONITORING).toPandas()
    assert len(again) == second["checks"], "a rerun replaces its date"
    crossed = again[again["crossed"]]
    assert second["retrain"] == "true" and not crossed.empty and (crossed["false_alarm"] <= 0.49999).all()
    assert again.query("check == 'retrain'")["detail"].item().startswith("retraining: crossed: ")
