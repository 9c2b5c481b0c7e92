"""End to end: monitoring decides whether the training job runs. The same cohort on the same
day, without drift (the demo flow) and after an influx of new members (conftest.drift_flow),
through the synthesized dev stack's jobs on the local runner."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F

from tests.conftest import COHORT, COHORT_AS_OF, INFLUX_FROM, fingerprint, settings_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.spark]


def _monitored(spark, settings):
    from ml.data import outputs
    from ml.data.store import table_store

    return table_store(spark, settings.namespace).read(outputs.MONITORING).toPandas()


def test_without_drift_nothing_crosses_and_training_is_not_started(spark, demo_flow):
    configs, summary = demo_flow
    assert summary["monitoring"] == {"monitor": "succeeded", "threshold_crossed": "succeeded", "retrain": "excluded"}
    settings = settings_for(configs, "dev")
    checks = _monitored(spark, settings)
    assert not checks["crossed"].any(), checks[checks["crossed"]][["check", "slice", "value"]].to_string()
    # the window: every scoring date of the last 28, per landmark and for everyone
    psi = checks[checks["check"] == "score_psi"]
    assert {f"landmark={lm.name}" for lm in settings.project.landmarks} | {"all"} >= set(psi["slice"]) >= {"all"}
    assert psi.loc[psi["slice"] == "all", "rows"].item() > summary["rows_scored"], "more than the day's rows"
    # judged exactly where a crossing by chance is rare enough; reported elsewhere
    drift = checks[checks["check"].isin(["score_psi", "feature_psi", "missing_share_change"])]
    limit = settings.project.monitoring.max_false_alarm
    assert (drift["threshold"].notna() == (drift["false_alarm"] <= limit)).all()
    assert drift["false_alarm"].between(0, 1).all()
    decision = checks[checks["check"] == "retrain"]
    assert decision["value"].item() == 0 and decision["detail"].item().startswith(
        "not retraining: no threshold crossed"
    )
    assert {"expected_auroc", "expected_ppv", "new_labels", "days_since_training"} <= set(checks["check"])


def test_an_influx_crosses_but_waits_for_labels_then_starts_the_training_job(spark, drift_flow):
    """The influx's newcomers move who the plan serves at once; their outcomes are months
    away, so with no new label since the champion's as-of date the monitor does not
    retrain. With the rule relaxed (no labels needed, no cool-down) it does, through the
    synthesized run-job task."""
    from ml.registry import client as registry
    from ml.runtime.tracking import configure_mlflow

    settings = settings_for(drift_flow["configs"], "dev")
    statuses = drift_flow["statuses"]
    assert statuses["monitoring"] == {"monitor": "succeeded", "threshold_crossed": "succeeded", "retrain": "excluded"}
    waited, started = drift_flow["decisions"]
    assert waited.startswith("not retraining: crossed: ") and "0 new censoring-safe labelled pregnancies" in waited
    assert "(needs 300)" in waited
    assert statuses["retraining"] == {"monitor": "succeeded", "threshold_crossed": "succeeded", "retrain": "succeeded"}
    assert started.startswith("retraining: crossed: ")
    checks = _monitored(spark, settings)
    assert set(checks["monitoring_date"]) == {COHORT_AS_OF}, "one partition: the day monitored"
    crossed = checks[checks["crossed"]]
    assert not crossed.empty and set(crossed["check"]) <= {"score_psi", "feature_psi", "missing_share_change"}
    assert "feature=enrollment__days_enrolled__12m" in set(crossed["slice"]), "who the plan serves moved"
    assert (crossed["false_alarm"] <= settings.project.monitoring.max_false_alarm).all()
    # the training job ran to the end, as of the monitored day, and decided about its challenger
    configure_mlflow()
    challenger = registry.version(settings.model_name, int(drift_flow["champion"]) + 1)
    assert challenger is not None and challenger.tags["job_run_id"].isdigit()
    import mlflow

    run = mlflow.get_run(challenger.run_id)
    assert run.data.params["feature_as_of"] <= COHORT_AS_OF.isoformat()
    assert challenger.tags["validation_champion_version"] == drift_flow["champion"], "judged against the champion"
    assert challenger.tags["promoted"] == challenger.tags["validation_promote"], "and the decision carried out"
    assert ("champion" in challenger.aliases) == (challenger.tags["promoted"] == "true")


def test_an_acknowledged_drift_no_longer_starts_training(spark, drift_flow, monkeypatch, capsys):
    """Acknowledged through the CLI (who, why, until when) for the champion it was seen
    under, the crossed checks still cross but no longer count: the monitor, rerun with the
    relaxed rule, decides not to retrain and says why."""
    import dataclasses

    from ml.data import outputs
    from ml.data.store import table_store
    from ml.monitoring.job import run as monitor
    from tests.cli_process import run_cli

    settings = settings_for(drift_flow["configs"], "dev")
    rule = settings.project.monitoring.retrain.model_copy(update={"min_new_labels": 0, "cooldown_days": 0})
    relaxed = settings.project.monitoring.model_copy(update={"retrain": rule})
    relaxed_settings = dataclasses.replace(
        settings, project=settings.project.model_copy(update={"monitoring": relaxed})
    )
    before = monitor(relaxed_settings, COHORT_AS_OF)
    assert before["retrain"] == "true"
    crossed = _monitored(spark, settings)
    crossed = crossed[crossed["crossed"]]
    monkeypatch.setenv("HROB_CONFIG_DIR", str(drift_flow["configs"]))
    capsys.readouterr()
    for check in sorted(set(crossed["check"])):
        code, out, err = run_cli(
            ["monitor", "acknowledge", "--env", "dev", "--check", check, "--reason", "influx of a county's members",
             "--by", "analyst@plan.org", "--json"],
            monkeypatch,
            capsys,
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out) | {"check": check} == json.loads(out) and json.loads(out)["slice"] is None
    code, _, err = run_cli(
        ["monitor", "acknowledge", "--env", "dev", "--check", "score_psi", "--reason", " "], monkeypatch, capsys
    )
    assert code == 2 and "an acknowledgement needs a reason" in err
    after = monitor(relaxed_settings, COHORT_AS_OF)
    assert after["retrain"] == "false" and after["crossed"] == before["crossed"]
    detail = _monitored(spark, settings).query("check == 'retrain'")["detail"].item()
    assert detail.startswith("not retraining: every crossed threshold acknowledged")
    recorded = table_store(spark, settings.namespace).read(outputs.ACKNOWLEDGEMENTS).toPandas()
    assert set(recorded["acknowledged_by"]) == {"analyst@plan.org"} and recorded["model_version"].nunique() == 1
    table_store(spark, settings.namespace).overwrite(
        table_store(spark, settings.namespace).read(outputs.ACKNOWLEDGEMENTS).limit(0), outputs.ACKNOWLEDGEMENTS
    )


def test_rerunning_the_feature_job_replaced_its_dates_and_kept_the_cohorts_own_rows(spark, drift_flow):
    """The feature job rerun over the copied table from the influx month on: the cohort's own
    members' snapshots as they were on every date, the rerun ones included (their sources did
    not change), the newcomers' added, one row per member and date."""
    from ml.data import outputs
    from ml.data.store import table_store

    settings = settings_for(drift_flow["configs"], "dev")
    features = table_store(spark, settings.namespace).read(outputs.FEATURES)
    own = F.col("member_id") <= COHORT["members"]
    assert fingerprint(features.where(own), by="as_of") == drift_flow["features_before"]
    assert features.where(~own & (F.col("as_of") < F.lit(INFLUX_FROM))).count() == 0
    assert features.where(~own).count() > 0, "the newcomers' snapshots"
    assert features.count() == features.select("member_id", "as_of").distinct().count()


def test_the_influx_cohort_changed_no_row_of_the_cohorts_own_members(spark, drift_flow):
    """Generated in one partition (one task) where the test cohort took two, with newcomers
    added: every generated table's rows of the cohort's own members are the same."""
    from ml.data import schema as S
    from ml.data.store import table_store

    plain, drifted = table_store(spark, "test.sources"), table_store(spark, "test.sources_influx")
    own = F.col("member_id") <= COHORT["members"]
    for name in S.GENERATED_TABLES:
        assert fingerprint(drifted.read(name).where(own)) == fingerprint(plain.read(name)), name
        if name != "outcomes":  # newcomers joined from May: none delivered by the June cut-off
            assert drifted.read(name).where(~own).count() > 0, f"{name}: the newcomers' rows"
