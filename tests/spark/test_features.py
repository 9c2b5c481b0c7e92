"""The feature job and training sets: point-in-time correctness, no leakage, YAML-driven
selection and imputation, idempotent atomic writes, and input validation."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from ml.config.feature_models import FeatureMappings, FeatureSelection, Imputation, ImputationConfig
from ml.config.loader import FeatureConfig
from ml.data import outputs
from ml.data.store import table_store
from ml.errors import ConfigError, DataError
from ml.features import imputation, mappings
from ml.features.compute import compute_features
from ml.features.definitions import catalogue
from ml.features.job import run as run_features
from ml.features.point_in_time import point_in_time_join
from ml.features.sources import FEATURE_SOURCES, check_sources
from tests.conftest import COHORT_AS_OF as AS_OF
from tests.conftest import fingerprint

pytestmark = pytest.mark.spark

WINDOWS = [3, 6, 12, 24]


# ---------------------------------------------------------------- point in time (hand-made rows)


def test_point_in_time_uses_same_day_never_later_and_keeps_rows_without_history(spark):
    episodes = spark.createDataFrame(
        [(1, 10, date(2024, 3, 10)), (2, 20, date(2024, 3, 10)), (3, 30, date(2024, 3, 10))],
        "episode_id long, member_id long, landmark_date date",
    )
    features = spark.createDataFrame(
        [
            (10, date(2024, 1, 1), 1.0),
            (10, date(2024, 3, 10), 2.0),  # same day as the landmark: used
            (10, date(2024, 3, 11), 3.0),  # a day later: never used
            (20, date(2024, 3, 11), 4.0),  # member 20 has only later rows
        ],
        "member_id long, as_of date, f double",
    )
    got = {
        r.episode_id: (r.f, r.feature_as_of, r.feature_gap)
        for r in point_in_time_join(episodes, features, "landmark_date").collect()
    }
    assert got[1] == (2.0, date(2024, 3, 10), None)
    assert got[2] == (None, None, "no snapshot"), "only later rows: missing features, not the later row"
    assert got[3] == (None, None, "no snapshot"), "no rows at all: still one row, features missing"
    assert len(got) == 3


def test_a_stale_snapshot_or_one_from_before_the_pregnancy_is_never_used(spark):
    episodes = spark.createDataFrame(
        [
            (1, 10, date(2024, 3, 10), date(2024, 1, 1)),  # newest snapshot 9 days old
            (2, 20, date(2024, 3, 10), date(2024, 3, 5)),  # newest snapshot from before this LMP
            (3, 30, date(2024, 3, 10), date(2024, 1, 1)),  # fresh: used
        ],
        "episode_id long, member_id long, landmark_date date, lmp_date date",
    )
    features = spark.createDataFrame(
        [(10, date(2024, 3, 1), 1.0), (20, date(2024, 3, 4), 2.0), (30, date(2024, 3, 9), 3.0)],
        "member_id long, as_of date, f double",
    )
    joined = point_in_time_join(episodes, features, "landmark_date", max_age_days=7, not_before="lmp_date")
    got = {r.episode_id: (r.f, r.feature_as_of, r.feature_gap) for r in joined.collect()}
    assert got[1] == (None, None, "older than 7 days")
    assert got[2] == (None, None, "before this pregnancy")
    assert got[3] == (3.0, date(2024, 3, 9), None)


def test_landmarks_are_reached_after_identification_and_before_the_end(spark):
    from ml.config.models import Landmark
    from ml.features.landmarks import landmark_rows, newest_reached

    landmarks = [Landmark(name="identification"), Landmark(name="week_12", week=12), Landmark(name="week_28", week=28)]
    lmp = date(2024, 1, 1)  # week 12: 2024-03-25; week 28: 2024-07-15
    episodes = spark.createDataFrame(
        [
            (1, 10, lmp, date(2024, 2, 20), None, None),  # identified at week 7, still pregnant
            (2, 20, lmp, date(2024, 4, 1), None, None),  # identified after week 12: no week_12 row
            (3, 30, lmp, date(2024, 2, 20), date(2024, 6, 1), None),  # delivered before week 28
            (4, 40, lmp, date(2024, 6, 2), date(2024, 6, 1), None),  # identified only from the delivery claim
            (5, 50, lmp, date(2024, 2, 20), None, date(2024, 3, 20)),  # lost at week 11: identification only
        ],
        "episode_id long, member_id long, lmp_date date, identified_date date, delivery_date date, loss_date date",
    )
    rows = landmark_rows(episodes, landmarks).collect()
    reached = {(r.episode_id, r.landmark): r.landmark_date for r in rows}
    assert reached == {
        (1, "identification"): date(2024, 2, 21),
        (1, "week_12"): date(2024, 3, 25),
        (1, "week_28"): date(2024, 7, 15),
        (2, "identification"): date(2024, 4, 2),
        (2, "week_28"): date(2024, 7, 15),
        (3, "identification"): date(2024, 2, 21),
        (3, "week_12"): date(2024, 3, 25),
        (5, "identification"): date(2024, 2, 21),
    }
    newest = {r.episode_id: r.landmark for r in newest_reached(episodes, landmarks, date(2024, 5, 1)).collect()}
    assert newest == {1: "week_12", 2: "identification", 3: "week_12", 5: "identification"}


LMP = date(2024, 1, 1)  # week 20: 2024-05-20
PARTS = (
    "chronic_hypertension",
    "gestational_hypertension",
    "preeclampsia",
    "superimposed_preeclampsia",
    "gestational_diabetes",
    "preterm_birth",
)


def _labelled_at(spark, cases, diagnoses=(), fills=(), labs=()):
    """{member: (label at a week-28 landmark, known flags)} for members with one pregnancy
    (LMP 2024-01-01) whose recorded outcome sets the named PARTS."""
    from ml.features.landmarks import KNOWN_FLAGS, label_at_landmark, with_known

    landmark = date(2024, 7, 15)
    rows = spark.createDataFrame(
        [(m, LMP, landmark, *[p in parts for p in PARTS]) for m, parts in cases.items()],
        "member_id long, lmp_date date, landmark_date date, " + ", ".join(f"{p} boolean" for p in PARTS),
    )
    for column in ("low_birthweight", "severe_maternal_morbidity", "stillbirth", "nicu_admission"):
        rows = rows.withColumn(column, F.lit(False))
    rows = rows.withColumn(
        "hypertensive_disorder",
        F.col("chronic_hypertension") | F.col("gestational_hypertension") | F.col("preeclampsia"),
    )
    dx = spark.createDataFrame(
        list(diagnoses), "member_id long, service_date date, received_date date, icd10_code string"
    )
    rx = spark.createDataFrame(list(fills), "member_id long, fill_date date, received_date date, drug_class string")
    lab = spark.createDataFrame(
        list(labs), "member_id long, order_date date, received_date date, test_code string, result_value double"
    )
    known = with_known(rows, dx, rx, lab, evidence=True).select(
        "member_id",
        label_at_landmark("high_risk").alias("y"),
        label_at_landmark("gestational_diabetes").alias("gdm"),
        *KNOWN_FLAGS,
        "known_evidence",
    )
    return {r.member_id: r for r in known.collect()}


def test_an_earlier_pregnancys_hypertensive_code_never_makes_this_ones_onset_known(spark):
    """The biostatistician's case: preeclampsia coded in the previous pregnancy (O14, 2022)
    and gestational hypertension (O13) coded before this LMP: this pregnancy's new
    preeclampsia is news. A code dated in this pregnancy, received before the landmark, is
    not; one received after it still is."""
    got = _labelled_at(
        spark,
        {1: {"preeclampsia"}, 2: {"gestational_hypertension"}, 3: {"preeclampsia"}, 4: {"preeclampsia"}},
        diagnoses=[
            (1, date(2022, 5, 1), date(2022, 5, 20), "O1490"),  # an earlier pregnancy
            (1, date(2023, 11, 1), date(2023, 11, 20), "O139"),  # before this LMP
            (2, date(2024, 6, 1), date(2024, 6, 20), "O139"),  # this pregnancy, received before
            (3, date(2024, 7, 1), date(2024, 7, 20), "O1490"),  # this pregnancy, received after
            (4, date(2024, 6, 1), date(2024, 6, 20), "I10"),  # chronic, not this pregnancy's onset
        ],
    )
    assert {m: r.y for m, r in got.items()} == {1: 1.0, 2: 0.0, 3: 1.0, 4: 1.0}
    assert got[2].known_pregnancy_hypertension == 1 and "diagnosis O139 (2024-06-01)" in got[2].known_evidence
    assert got[1].known_pregnancy_hypertension == 0 and got[1].known_evidence is None


def test_superimposed_preeclampsia_counts_though_the_chronic_hypertension_was_known(spark):
    got = _labelled_at(
        spark,
        {1: {"chronic_hypertension", "preeclampsia", "superimposed_preeclampsia"}, 2: {"chronic_hypertension"}},
        diagnoses=[(m, date(2023, 6, 1), date(2023, 6, 20), "I10") for m in (1, 2)],
        # the chronic disease's pressures and fills are not evidence of a new onset
        fills=[(1, date(2024, 6, 1), date(2024, 6, 1), "antihypertensive")],
        labs=[(1, date(2024, 6, 3), date(2024, 6, 5), "systolic_bp", 150.0)],
    )
    assert got[1].y == 1.0 and got[1].known_chronic_hypertension == 1 and got[1].known_pregnancy_hypertension == 0
    assert got[2].y == 0.0, "chronic hypertension known at the landmark is no news"
    assert got[1].known_evidence == "chronic hypertension: diagnosis I10 (2023-06-01)"


def test_known_reads_every_channel_the_plan_had(spark):
    """Work-up after week 20 (a raised pressure, an antihypertensive, proteinuria), an
    antihypertensive before the pregnancy, a raised glucose challenge: each makes its part
    known, received before the landmark only."""
    got = _labelled_at(
        spark,
        {
            1: {"gestational_hypertension"},
            2: {"preeclampsia"},
            3: {"preeclampsia"},
            4: {"chronic_hypertension"},
            5: {"gestational_diabetes"},
            6: {"gestational_hypertension"},
            7: {"gestational_hypertension"},
        },
        fills=[
            (2, date(2024, 6, 1), date(2024, 6, 1), "antihypertensive"),  # after week 20
            (4, date(2023, 9, 1), date(2023, 9, 1), "antihypertensive"),  # before the pregnancy
            (7, date(2024, 3, 1), date(2024, 3, 1), "antihypertensive"),  # before week 20: chronic
        ],
        labs=[
            (1, date(2024, 6, 3), date(2024, 6, 5), "systolic_bp", 146.0),
            (3, date(2024, 6, 3), date(2024, 6, 5), "urine_protein_ratio", 0.45),
            (5, date(2024, 6, 10), date(2024, 6, 12), "glucose_challenge", 162.0),
            (6, date(2024, 6, 3), date(2024, 7, 20), "systolic_bp", 150.0),  # received after the landmark
        ],
    )
    assert {m: r.y for m, r in got.items()} == {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0, 5: 0.0, 6: 1.0, 7: 1.0}
    assert got[7].known_chronic_hypertension == 1, "an antihypertensive before week 20 is chronic hypertension's"
    assert got[5].gdm == 0.0 and got[5].known_gdm == 1
    assert got[1].known_evidence == "hypertension of pregnancy: systolic pressure 146 mmHg after week 20 (2024-06-03)"


# ---------------------------------------------------------------- the feature job on a cohort


def test_at_least_500_features_each_mapped_once(cohort_settings, features_written):
    store, _ = features_written
    columns = [
        c for c in store.read(outputs.FEATURES).columns if c not in (*outputs.FEATURE_KEY, outputs.FEATURE_PARTITION)
    ]
    assert len(columns) >= 500
    assert all(re.fullmatch(r"[a-z_]+__[a-z0-9_]+(__[a-z0-9_]+)?", c) for c in columns)
    mappings.check(columns, cohort_settings.features.mappings)


def test_one_row_per_member_and_as_of_and_every_landmark_snapshotted(spark, cohort_settings, features_written):
    from ml.features.landmarks import landmark_rows

    store, result = features_written
    table = store.read(outputs.FEATURES).where(F.col("as_of") <= F.lit(AS_OF))  # the demo's next morning added one day
    assert table.count() == table.select("member_id", "as_of").distinct().count() == result["feature_rows"]
    sources = table_store(spark, cohort_settings.environment.source_schema)
    reached = landmark_rows(sources.read("episodes"), cohort_settings.project.landmarks).where(
        F.col("landmark_date").between(F.lit(date(2024, 1, 1)), F.lit(AS_OF))
    )
    wanted = reached.select("member_id", F.col("landmark_date").alias("as_of")).distinct()
    assert wanted.count() > 1000
    assert wanted.subtract(table.select("member_id", "as_of")).count() == 0, "a landmark without its snapshot"
    months = table.select(outputs.FEATURE_PARTITION, F.trunc("as_of", "month").alias("m"))
    assert months.where(F.col(outputs.FEATURE_PARTITION) != F.col("m")).count() == 0


def test_no_feature_uses_data_served_or_received_on_the_as_of_date_or_later(spark, cohort_settings, features_written):
    """Features of the members with a pregnancy open on the as-of date, computed from every
    source row and from only the rows served and received before that date, are equal."""
    from ml.features.spine import is_open

    sources = table_store(spark, cohort_settings.environment.source_schema)
    # the cohort as generated (clean: the source checks reject nothing, and cost a pass here)
    tables = {t.name: sources.read(t.name).select(*t.names) for t in FEATURE_SOURCES}
    spine = tables["episodes"].where(is_open(AS_OF)).select("member_id", F.lit(AS_OF).alias("as_of"))
    spine = spine.distinct().limit(300).cache()
    before = dict(tables)
    for name, column in (
        ("diagnoses", "service_date"),
        ("encounters", "encounter_date"),
        ("pharmacy_fills", "fill_date"),
        ("lab_results", "order_date"),
        ("sdoh_screenings", "screening_date"),
    ):
        before[name] = before[name].where((F.col(column) < F.lit(AS_OF)) & (F.col("received_date") < F.lit(AS_OF)))
    before["outcomes"] = before["outcomes"].where(F.col("recorded_date") < F.lit(AS_OF))
    before["episodes"] = (
        before["episodes"]
        .where(F.col("identified_date") < F.lit(AS_OF))
        .withColumn(
            "delivery_recorded_date",
            F.when(F.col("delivery_recorded_date") < F.lit(AS_OF), F.col("delivery_recorded_date")),
        )
    )
    before["enrollment"] = before["enrollment"].where(F.col("span_start") < F.lit(AS_OF))
    received_late = tables["diagnoses"].where(
        (F.col("service_date") < F.lit(AS_OF)) & (F.col("received_date") >= F.lit(AS_OF))
    )
    assert received_late.join(spine, "member_id", "left_semi").count() > 0, "the cohort has claims still in flight"
    # Both versions in one computation (a 563-column plan costs ~20 s to build): the
    # truncated copy under member and episode ids moved by OFFSET, which every join carries.
    offset = 10**12

    def moved(frame):
        for column in ("member_id", "episode_id"):
            if column in frame.columns:
                frame = frame.withColumn(column, F.col(column) + F.lit(offset))
        return frame

    combined = {name: table.unionByName(moved(before[name])) for name, table in tables.items()}
    both = compute_features(combined, spine.unionByName(moved(spine)), WINDOWS).toPandas()
    spine.unpersist()
    late = both["member_id"] >= offset
    a = both[~late].sort_values(["member_id", "as_of"]).reset_index(drop=True)
    b = both[late].assign(member_id=lambda f: f["member_id"] - offset)
    b = b.sort_values(["member_id", "as_of"]).reset_index(drop=True)
    assert len(a) == len(b) == 300
    import pandas as pd

    pd.testing.assert_frame_equal(a, b[a.columns])


def test_no_generator_only_table_is_a_feature_source():
    from pathlib import Path

    from ml.data import schema as S
    from ml.features import sources

    assert {t.name for t in S.GENERATOR_ONLY} == {"oracle_episode_risk", "oracle_diagnoses_in_transit"}
    assert not {t.name for t in S.GENERATOR_ONLY} & {t.name for t in sources.FEATURE_SOURCES}
    for path in Path(sources.__file__).parent.glob("*.py"):
        text = path.read_text()
        for table in S.GENERATOR_ONLY:
            assert table.name not in text, (path.name, table.name)
        assert "ORACLE" not in text and "IN_TRANSIT" not in text, path.name


def test_failed_run_leaves_the_feature_table_intact(spark, cohort_settings, features_written, monkeypatch):
    """The job's write fails part-way (a value that raises only when written): every
    partition, the as-of date's included, stays readable and unchanged."""
    store, _ = features_written
    before = fingerprint(store.read(outputs.FEATURES), by="as_of")
    import ml.features.job as job

    def exploding(tables, spine, windows):
        window = F.col("as_of").between(F.lit(AS_OF - timedelta(days=7)), F.lit(AS_OF))
        rows = store.read(outputs.FEATURES).where(window).drop(outputs.FEATURE_PARTITION)
        return rows.withColumn(
            "area__deprivation_index",
            F.when(F.col("member_id") > 0, F.raise_error(F.lit("disk full"))).otherwise(
                F.col("area__deprivation_index")
            ),
        )

    monkeypatch.setattr(job, "compute_features", exploding)
    with pytest.raises(Exception, match="disk full"):
        run_features(cohort_settings, AS_OF)
    assert fingerprint(store.read(outputs.FEATURES), by="as_of") == before


# ---------------------------------------------------------------- mappings


def test_an_empty_source_stops_the_job_before_anything_is_written(spark, cohort_settings, features_written):
    """The lab feed delivered an empty table: the job stops with one line naming it, the
    feature table and the rejection log keep every partition, and a clean rerun then logs
    an empty rejection partition for the date (nothing rejected)."""
    import dataclasses
    import shutil

    store, _ = features_written
    before = fingerprint(store.read(outputs.FEATURES), by="as_of")
    sources = table_store(spark, cohort_settings.environment.source_schema)
    copy = table_store(spark, "test.sources_empty_labs")
    shutil.copytree(sources.root, copy.root, dirs_exist_ok=True)  # the cohort's files, as they are
    copy.overwrite(sources.read("lab_results").limit(0), "lab_results")
    environment = cohort_settings.environment.model_copy(update={"source_schema": copy.namespace})
    broken = dataclasses.replace(cohort_settings, environment=environment)
    with pytest.raises(DataError, match=r"^source table test\.sources_empty_labs\.lab_results is empty: no partition"):
        run_features(broken, AS_OF)
    assert fingerprint(store.read(outputs.FEATURES), by="as_of") == before
    logged = store.read(outputs.REJECTIONS)
    assert logged.where(F.col("as_of") == F.lit(AS_OF)).count() == 0, "the clean cohort: nothing rejected"
    assert set(logged.columns) == {"as_of", "source_table", "reason", "rows"}


def test_missing_source_tables_name_the_command_that_generates_them(spark, cohort_settings):
    import dataclasses

    environment = cohort_settings.environment.model_copy(update={"source_schema": "test.nothing_here"})
    with pytest.raises(DataError) as refused:
        run_features(dataclasses.replace(cohort_settings, environment=environment), AS_OF)
    assert str(refused.value) == (
        "source table test.nothing_here.members does not exist (9 of 9 missing): "
        "for a synthetic cohort run hrob data generate --env local"
    )


def test_a_missing_feature_table_names_the_job_that_writes_it(spark, cohort_settings):
    from ml.features.training_set import build

    sources = table_store(spark, cohort_settings.environment.source_schema)
    with pytest.raises(
        DataError,
        match=r"member_features does not exist \(.*\): run the feature job \(hrob run features --env local\)$",
    ):
        build(cohort_settings, sources, table_store(spark, "test.nothing_here"), AS_OF)


def test_unmapped_or_never_computed_features_are_refused():
    names = [f.name for f in catalogue(WINDOWS)]
    mapping = FeatureMappings(groups={"all": names[:-1]})
    with pytest.raises(ConfigError, match=r"1 computed features are in no group: " + names[-1]):
        mappings.check(names, mapping)
    mapping = FeatureMappings(groups={"all": [*names, "labs__unicorn__last_value"]})
    with pytest.raises(ConfigError, match="1 mapped features are never computed: labs__unicorn__last_value"):
        mappings.check(names, mapping)


# ---------------------------------------------------------------- training sets, selection, imputation


def test_training_set_applies_selection(spark, cohort_settings, training_set):
    training = training_set
    sources = table_store(spark, cohort_settings.environment.source_schema)
    assert "demographics__race__black" not in training.features  # dropped feature
    features = FeatureConfig(
        cohort_settings.features.mappings,
        FeatureSelection(keep=["labs", "condition"], drop=["labs__bmi__last_value"]),
        cohort_settings.features.imputation,
    )
    selected = features.selected()
    assert all(f.startswith(("labs__", "condition__")) for f in selected)
    assert "labs__bmi__last_value" not in selected and "labs__bmi__max_12m" in selected
    frame = training.frame.cache()
    assert frame.count() == frame.select("episode_id", "landmark").distinct().count() > 1000
    labelled = sources.read("outcomes").where(F.col("recorded_date") < F.lit(AS_OF)).select("episode_id")
    assert frame.select("episode_id").distinct().subtract(labelled).count() == 0, "labels as known on the as-of date"
    assert frame.where(F.col("landmark_date") >= F.lit(AS_OF)).count() == 0
    # validation members (whose recent episodes recalibrate) are in no other part; a train
    # member's recent pregnancy may be in the holdout, as the deployed model will meet it
    validating = F.col("split").isin("validation", "calibration")
    members = frame.groupBy("member_id").agg(F.countDistinct(validating).alias("parts"))
    assert members.where("parts > 1").count() == 0, "a validation member in train or test"
    assert {r.split for r in frame.select("split").distinct().collect()} == {
        "train",
        "validation",
        "calibration",
        "test",
    }
    assert frame.where(F.col("feature_as_of") > F.col("landmark_date")).count() == 0
    age = F.datediff("landmark_date", "feature_as_of")
    assert frame.where(age > cohort_settings.project.features.max_snapshot_age_days).count() == 0
    assert {r.landmark for r in frame.select("landmark").distinct().collect()} == {
        lm.name for lm in cohort_settings.project.landmarks
    }
    frame.unpersist()


def test_an_episode_whose_window_may_still_be_open_is_in_no_set_and_the_holdout_is_later(
    spark, cohort_settings, training_set
):
    """Censoring-safe: every labelled episode's expected delivery + 42 days + the margin lies
    before the as-of date, though outcomes of later (early-delivered) episodes are recorded;
    temporal: train and validation from earlier expected deliveries than the holdout and
    the recalibration rows."""
    from ml.features.training_set import Periods

    periods = Periods.of(cohort_settings, AS_OF)
    margin = cohort_settings.project.training.censoring_margin_days
    assert periods.safe_until == AS_OF - timedelta(days=42 + margin)
    sources = table_store(spark, cohort_settings.environment.source_schema)
    episodes = sources.read("episodes").select("episode_id", "expected_delivery_date")
    rows = training_set.frame.select("episode_id", "split").distinct().join(episodes, "episode_id").toPandas()
    assert (rows["expected_delivery_date"] < periods.safe_until).all()
    development = rows["split"].isin(["train", "validation"])
    assert (rows.loc[development, "expected_delivery_date"] < periods.recent_from).all()
    assert (rows.loc[~development, "expected_delivery_date"] >= periods.recent_from).all()
    # what the rule keeps out: outcomes already recorded for episodes whose window may be open
    early = (
        sources.read("outcomes")
        .where(F.col("recorded_date") < F.lit(AS_OF))
        .join(episodes, "episode_id")
        .where(F.col("expected_delivery_date") >= F.lit(periods.safe_until))
    )
    assert early.count() > 20, "recorded early: the preterm-heavy episodes a naive set would hold"
    assert early.join(training_set.frame, "episode_id").count() == 0


def _config(default: Imputation, **features: Imputation) -> FeatureConfig:
    return FeatureConfig(
        FeatureMappings(groups={"g": ["a", "b", "c", "d", "e"]}),
        FeatureSelection(keep=["g"]),
        ImputationConfig(default=default, features=features),
    )


def test_each_imputation_strategy(spark):
    train = spark.createDataFrame(
        [
            (1.0, 1.0, 5.0, 2.0, None),
            (3.0, None, 5.0, 2.0, 4.0),
            (None, 10.0, None, 7.0, 4.0),
            (8.0, 4.0, 1.0, None, 4.0),
        ],
        "a double, b double, c double, d double, e double",
    )
    config = _config(
        Imputation(strategy="leave_missing"),
        a=Imputation(strategy="mean"),
        b=Imputation(strategy="median"),
        c=Imputation(strategy="most_frequent"),
        d=Imputation(strategy="constant", value=-1.0),
    )
    fitted = imputation.fit(train, ["a", "b", "c", "d", "e"], config)
    assert fitted.rules["a"].value == pytest.approx(4.0)
    assert fitted.rules["b"].value == pytest.approx(4.0)
    assert fitted.rules["c"].value == 5.0
    assert fitted.rules["d"].value == -1.0
    assert fitted.rules["e"].value is None and fitted.rules["e"].indicator
    assert fitted.model_columns == ["a", "b", "c", "d", "e", "e__missing"]
    row = spark.createDataFrame([(None, None, None, None, None)], train.schema).select(*fitted.spark_columns()).first()
    assert row.asDict() == {"a": 4.0, "b": 4.0, "c": 5.0, "d": -1.0, "e": None, "e__missing": 1.0}
    again = imputation.FittedImputation.from_json(fitted.to_json())
    import pandas as pd

    frame = again.apply_pandas(pd.DataFrame({c: [None] for c in "abcde"}))
    assert frame.iloc[0].fillna(-99).to_dict() == {"a": 4.0, "b": 4.0, "c": 5.0, "d": -1.0, "e": -99, "e__missing": 1.0}


def test_imputation_is_learned_on_the_training_split_only(spark):
    """Test rows carry extreme values: if they leaked into the fit, the fill would move."""
    rows = [("train", float(v)) for v in (1, 2, 3, 4)] + [("test", 1000.0), ("test", None)]
    frame = spark.createDataFrame(rows, "split string, a double")
    config = _config(Imputation(strategy="mean"))
    fitted = imputation.fit(frame.where("split = 'train'"), ["a"], config)
    assert fitted.rules["a"].value == pytest.approx(2.5)


# ---------------------------------------------------------------- input validation


def _broken(spark, cohort_settings, table: str, change) -> dict:
    """The cohort's source frames with one of them changed (in memory: the checks read frames)."""
    source = table_store(spark, cohort_settings.environment.source_schema)
    frames = {t.name: source.read(t.name) for t in FEATURE_SOURCES}
    frames[table] = change(frames[table])
    return frames


@pytest.mark.parametrize(
    ("table", "change", "message"),
    [
        (
            "episodes",
            lambda df: df.drop("identified_date"),
            r"test.broken_sources.episodes: column identified_date is missing",
        ),
        (
            "members",
            lambda df: df.withColumn("birth_date", F.col("birth_date").cast("string")),
            r"members: column birth_date has type string, expected date",
        ),
        (
            "diagnoses",
            lambda df: df.withColumn(
                "claim_line_id", F.when(F.col("claim_line_id") % 50 == 0, None).otherwise(F.col("claim_line_id"))
            ),
            r"diagnoses: column claim_line_id: [\d,]+ rows with a null key",
        ),
        ("members", lambda df: df.unionByName(df.limit(3)), r"members: key \(member_id\): 3 duplicate rows"),
        ("members", lambda df: df.limit(0), r"members is empty: no partition was replaced"),
        (
            "lab_results",  # a feed that delivered a fifth of its usual rows this month
            lambda df: df.where(
                (F.col("received_date") <= F.lit(AS_OF - timedelta(days=30))) | (F.col("lab_id") % 5 == 0)
            ),
            r"lab_results: [\d,]+ rows by received_date in the 30 days to 2026-06-15, 2\d% of the [\d,]+ its "
            r"previous 90 days give \(minimum 50%\): no partition was replaced",
        ),
    ],
)
def test_contract_violations_stop_with_one_line(spark, cohort_settings, table, change, message):
    frames = _broken(spark, cohort_settings, table, change)
    with pytest.raises(DataError, match=message):
        check_sources(frames, "test.broken_sources", AS_OF, cohort_settings.project.sources)


def test_impossible_values_are_rejected_and_the_job_goes_on(spark, cohort_settings):
    """Three impossible values planted in disjoint rows at once (one pass of the checks): each
    row is rejected with its reason, a rejected member's episodes follow her, every other
    row is kept."""
    negative_age = F.col("member_id") % 100 == 1
    frames = _broken(
        spark,
        cohort_settings,
        "members",
        lambda df: df.withColumn(
            "birth_date", F.when(negative_age, F.lit(date(2030, 1, 1))).otherwise(F.col("birth_date"))
        ),
    )
    before_lmp = (F.col("episode_id") % 50 == 1) & ~negative_age
    too_long = (F.col("episode_id") % 40 == 1) & ~before_lmp & ~negative_age
    episodes = frames["episodes"]
    frames["episodes"] = episodes.withColumns(
        {
            "identified_date": F.when(before_lmp, F.date_sub("lmp_date", 3)).otherwise(F.col("identified_date")),
            "gestational_age_weeks": F.when(too_long, F.lit(60)).otherwise(F.col("gestational_age_weeks")),
        }
    )
    checked = check_sources(frames, "test.broken_sources", AS_OF, cohort_settings.project.sources)
    planted = {
        "members": {"birth date after the as-of date (negative age)": frames["members"].where(negative_age).count()},
        "episodes": {
            "identified before the last menstrual period": episodes.where(before_lmp).count(),
            "gestational age outside 16 to 45 weeks": episodes.where(too_long).count(),
            "member rejected (see members__rejected)": episodes.where(negative_age).count(),
        },
    }
    for table, reasons in planted.items():
        assert all(n > 0 for n in reasons.values()), reasons
        assert dict(checked.rejected_counts[table]) == reasons, table
        rejected = checked.rejected[f"{table}__rejected"]
        by_reason = {r.rejected_reason: r["count"] for r in rejected.groupBy("rejected_reason").count().collect()}
        assert by_reason == reasons, table
        assert checked.tables[table].count() + sum(reasons.values()) == frames[table].count(), "nothing lost"


def test_every_row_rule_rejects_exactly_its_rows_and_nothing_is_lost(spark, cohort_settings):
    """Missing, unknown and impossible values planted across the sources at once: each row
    lands in its table's __rejected under the first rule it breaks, rows of a rejected
    member follow it, every other row is kept, and no row is dropped silently."""
    checks = cohort_settings.project.sources
    frames = _broken(spark, cohort_settings, "members", lambda df: df)
    first = frames["episodes"].groupBy("member_id").agg(F.min("lmp_date").alias("lmp")).orderBy("member_id")
    (no_birth, _), (too_young, lmp_b) = [(r.member_id, r.lmp) for r in first.limit(2).collect()]
    born = lmp_b - timedelta(days=8 * 365)  # pregnant at 8: the episode and earlier events are impossible
    members = frames["members"]
    frames["members"] = members.withColumn(
        "birth_date",
        F.when(F.col("member_id") == no_birth, None)
        .when(F.col("member_id") == too_young, F.lit(born))
        .otherwise(F.col("birth_date")),
    )
    others = ~F.col("member_id").isin(no_birth, too_young)
    labs = frames["lab_results"]
    ids = [r.lab_id for r in labs.where(others).orderBy("lab_id").select("lab_id").limit(15).collect()]

    def planted(column: str, values: dict):
        value = F.col(column)
        for lab_id, planted_value in values.items():
            value = F.when(F.col("lab_id") == lab_id, F.lit(planted_value)).otherwise(value)
        return value.cast(labs.schema[column].dataType)

    hemoglobin, glucose, wrong_unit = ids[9:12], ids[12:14], ids[14]
    frames["lab_results"] = labs.withColumns(
        {
            "member_id": planted("member_id", {**dict.fromkeys(ids[0:5]), **dict.fromkeys(ids[5:9], 10**12)}),
            "test_code": planted(
                "test_code",
                {
                    **dict.fromkeys([*hemoglobin, wrong_unit], "hemoglobin"),
                    **dict.fromkeys(glucose, "glucose_challenge"),
                },
            ),
            "result_value": planted(
                "result_value", {**dict.fromkeys(hemoglobin, -999.0), **dict.fromkeys(glucose, 1e12), wrong_unit: 12.0}
            ),
            "result_unit": planted(
                "result_unit",
                {**dict.fromkeys(hemoglobin, "g/dL"), **dict.fromkeys(glucose, "mg/dL"), wrong_unit: "mmol/L"},
            ),
        }
    )
    outcome_ids = [r.episode_id for r in frames["outcomes"].where(others).orderBy("episode_id").limit(2).collect()]
    frames["outcomes"] = frames["outcomes"].withColumn(
        "episode_id",
        F.when(F.col("episode_id").isin(outcome_ids), F.col("episode_id") + 10**12).otherwise(F.col("episode_id")),
    )
    diagnosis_ids = [
        r.claim_line_id for r in frames["diagnoses"].where(others).orderBy("claim_line_id").limit(3).collect()
    ]
    frames["diagnoses"] = frames["diagnoses"].withColumn(
        "service_date",
        F.when(F.col("claim_line_id").isin(diagnosis_ids), F.lit(date(1900, 1, 1))).otherwise(F.col("service_date")),
    )

    checked = check_sources(frames, "test.planted", AS_OF, checks)

    def of(table, member, before=None):
        df = frames[table].where(F.col("member_id") == member)
        return df.where(F.col(before) < F.lit(born)).count() if before else df.count()

    young_episodes = frames["episodes"].where(
        (F.col("member_id") == too_young) & (F.months_between("lmp_date", F.lit(born)) / 12 < 10)
    )
    young_outcomes = frames["outcomes"].join(young_episodes.select("episode_id"), "episode_id").count()
    expected = {
        "members": {"birth_date is null (declared non-null)": 1},
        "lab_results": {
            "member_id is null (declared non-null)": 5,
            "member_id not in members": 4,
            "member rejected (see members__rejected)": of("lab_results", no_birth),
            "dated before the member's birth": of("lab_results", too_young, "order_date"),
            "hemoglobin: unit is not g/dL": 1,
            "hemoglobin: result outside 3 to 25 g/dL": 3,
            "glucose_challenge: result outside 20 to 1000 mg/dL": 2,
        },
        "episodes": {
            "member rejected (see members__rejected)": of("episodes", no_birth),
            "pregnancy at an age outside 10 to 60 years": young_episodes.count(),
        },
        "outcomes": {
            "member rejected (see members__rejected)": of("outcomes", no_birth),
            "episode_id not in episodes": 2,
            "episode rejected (see episodes__rejected)": young_outcomes,
        },
        "diagnoses": {
            "member rejected (see members__rejected)": of("diagnoses", no_birth),
            "dated before the member's birth": 3 + of("diagnoses", too_young, "service_date"),
        },
    }
    got = {t: dict(sorted(r.items())) for t, r in checked.rejected_counts.items() if t in expected}
    assert got == {t: {k: v for k, v in sorted(r.items()) if v} for t, r in expected.items()}
    followers = {"member rejected (see members__rejected)", "dated before the member's birth"}
    for table, reasons in checked.rejected_counts.items():  # the planted members' other rows
        assert table in expected or set(reasons) <= followers, (table, reasons)
    for table in expected:  # nothing lost: every row kept or rejected, once
        n_rejected = checked.rejected[f"{table}__rejected"].count()
        assert n_rejected == sum(checked.rejected_counts[table].values()), table
        assert checked.tables[table].count() + n_rejected == frames[table].count(), table
    assert checked.tables["lab_results"].where(F.col("member_id").isin(no_birth, 10**12)).count() == 0
