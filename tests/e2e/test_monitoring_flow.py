"""End to end: monitoring decides whether the training job runs. The same cohort on the same
day, without drift (the demo flow) and after an influx of new members (conftest.drift_flow),
through the synthesized dev stack's jobs on the local runner."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from tests.conftest import COHORT, COHORT_AS_OF, INFLUX_FROM, MONITORED_ROWS, fingerprint, settings_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.spark]


def _monitored(spark, settings):
    from ml.data import outputs
    from ml.data.store import table_store

    return table_store(spark, settings.namespace).read(outputs.MONITORING).toPandas()


def test_without_drift_nothing_crosses_and_training_is_not_started(spark, demo_flow):
    configs, summary = demo_flow
    assert summary["monitoring"] == {"monitor": "succeeded", "threshold_crossed": "succeeded", "retrain": "excluded"}
    checks = _monitored(spark, settings_for(configs, "dev"))
    drift = checks[checks["check"].isin(["score_psi", "feature_psi", "missing_share_change"])]
    assert (drift["rows"] >= MONITORED_ROWS).all() and drift["threshold"].notna().all(), "judged, not only reported"
    assert not checks["crossed"].any(), checks[checks["crossed"]][["check", "slice", "value"]].to_string()


def test_an_influx_of_new_members_starts_the_training_job(spark, drift_flow):
    from ml.registry import client as registry
    from ml.runtime.tracking import configure_mlflow

    settings = settings_for(drift_flow["configs"], "dev")
    statuses = drift_flow["statuses"]
    assert statuses["monitoring"] == {"monitor": "succeeded", "threshold_crossed": "succeeded", "retrain": "succeeded"}
    checks = _monitored(spark, settings)
    assert set(checks["monitoring_date"]) == {COHORT_AS_OF}, "one partition: the day monitored"
    crossed = checks[checks["crossed"]]
    assert not crossed.empty and set(crossed["check"]) <= {"score_psi", "feature_psi", "missing_share_change"}
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
