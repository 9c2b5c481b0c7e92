"""The feature job and training sets: point-in-time correctness, no leakage, YAML-driven
selection and imputation, idempotent atomic writes, and input validation."""

from __future__ import annotations

import re
from datetime import date

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
from ml.features.sources import FEATURE_SOURCES, check_sources, load_sources
from ml.features.training_set import build as build_training_set
from tests.conftest import COHORT_AS_OF as AS_OF

pytestmark = pytest.mark.spark

WINDOWS = [3, 6, 12, 24]


# ---------------------------------------------------------------- point in time (hand-made rows)


def test_point_in_time_uses_same_day_never_later_and_keeps_rows_without_history(spark):
    episodes = spark.createDataFrame(
        [(1, 10, date(2024, 3, 10)), (2, 20, date(2024, 3, 10)), (3, 30, date(2024, 3, 10))],
        "episode_id long, member_id long, index_date date",
    )
    features = spark.createDataFrame(
        [
            (10, date(2024, 1, 1), 1.0),
            (10, date(2024, 3, 10), 2.0),  # same day as the index date: used
            (10, date(2024, 3, 11), 3.0),  # a day later: never used
            (20, date(2024, 3, 11), 4.0),  # member 20 has only later rows
        ],
        "member_id long, as_of date, f double",
    )
    got = {r.episode_id: (r.f, r.feature_as_of) for r in point_in_time_join(episodes, features, "index_date").collect()}
    assert got[1] == (2.0, date(2024, 3, 10))
    assert got[2] == (None, None), "only later rows: missing features, not the later row"
    assert got[3] == (None, None), "no rows at all: still one row, features missing"
    assert len(got) == 3


# ---------------------------------------------------------------- the feature job on a cohort


def test_at_least_500_features_each_mapped_once(cohort_settings, features_written):
    store, _ = features_written
    columns = [c for c in store.read(outputs.FEATURES).columns if c not in outputs.FEATURE_KEY]
    assert len(columns) >= 500
    assert all(re.fullmatch(r"[a-z_]+__[a-z0-9_]+(__[a-z0-9_]+)?", c) for c in columns)
    mappings.check(columns, cohort_settings.features.mappings)


def test_one_row_per_member_and_as_of_and_open_episodes_snapshotted(spark, cohort_settings, features_written):
    store, result = features_written
    table = store.read(outputs.FEATURES)
    assert table.count() == table.select("member_id", "as_of").distinct().count() == result["feature_rows"]
    sources = table_store(spark, cohort_settings.environment.source_schema)
    open_members = sources.read("episodes").where(
        (F.col("index_date") <= F.lit(AS_OF))
        & (F.col("delivery_date").isNull() | (F.col("delivery_date") > F.lit(AS_OF)))
    )
    today = table.where(F.col("as_of") == F.lit(AS_OF)).select("member_id")
    assert open_members.select("member_id").subtract(today).count() == 0


def test_no_feature_uses_data_from_the_as_of_date_or_later(spark, cohort_settings, features_written):
    """Recomputed with every event dated on or after the as-of date deleted, the features
    the job wrote for that date are unchanged."""
    store, _ = features_written
    written = store.read(outputs.FEATURES).where(F.col("as_of") == F.lit(AS_OF)).limit(300).cache()
    sources = table_store(spark, cohort_settings.environment.source_schema)
    checked = load_sources(sources, AS_OF)
    before = dict(checked.tables)
    for name, column in (
        ("diagnoses", "service_date"),
        ("encounters", "encounter_date"),
        ("pharmacy_fills", "fill_date"),
        ("lab_results", "order_date"),
        ("sdoh_screenings", "screening_date"),
        ("outcomes", "recorded_date"),
    ):
        before[name] = before[name].where(F.col(column) < F.lit(AS_OF))
    before["enrollment"] = before["enrollment"].where(F.col("span_start") < F.lit(AS_OF))
    truncated = compute_features(before, written.select("member_id", "as_of"), WINDOWS)
    a = written.toPandas().sort_values(["member_id", "as_of"]).reset_index(drop=True)
    b = truncated.toPandas().sort_values(["member_id", "as_of"]).reset_index(drop=True)
    truncated.unpersist()
    written.unpersist()
    assert len(a) == 300
    import pandas as pd

    pd.testing.assert_frame_equal(a, b[a.columns])


def test_the_oracle_is_not_a_feature_source():
    from pathlib import Path

    from ml.features import sources

    assert "oracle_episode_risk" not in {t.name for t in sources.FEATURE_SOURCES}
    for path in Path(sources.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "ORACLE" not in text.replace("S.ORACLE not in FEATURE_SOURCES", "") or path.name == "sources.py"
        assert "oracle_episode_risk" not in text


def test_rerun_for_the_same_as_of_replaces_its_rows(spark, cohort_settings, features_written):
    store, _ = features_written
    before = store.read(outputs.FEATURES)
    counts = before.groupBy("as_of").count().collect()
    run_features(cohort_settings, AS_OF)  # the daily run again
    after = store.read(outputs.FEATURES)
    assert sorted(after.groupBy("as_of").count().collect()) == sorted(counts)
    assert (
        after.where(F.col("as_of") < F.lit(AS_OF)).exceptAll(before.where(F.col("as_of") < F.lit(AS_OF))).count() == 0
    )


def test_failed_run_leaves_the_feature_table_intact(spark, cohort_settings, features_written, monkeypatch):
    """The job's write fails part-way (a value that raises only when written): every
    partition, the as-of date's included, stays readable and unchanged."""
    store, _ = features_written
    before = store.read(outputs.FEATURES).cache()
    expected = sorted(before.groupBy("as_of").count().collect())
    import ml.features.job as job

    def exploding(tables, spine, windows):
        rows = store.read(outputs.FEATURES).where(F.col("as_of") == F.lit(AS_OF))
        return rows.withColumn(
            "area__deprivation_index",
            F.when(F.col("member_id") % 7 == 3, F.raise_error(F.lit("disk full"))).otherwise(
                F.col("area__deprivation_index")
            ),
        )

    monkeypatch.setattr(job, "compute_features", exploding)
    with pytest.raises(Exception, match="disk full"):
        run_features(cohort_settings, AS_OF)
    after = store.read(outputs.FEATURES)
    assert sorted(after.groupBy("as_of").count().collect()) == expected
    assert after.exceptAll(before).count() == 0
    before.unpersist()


# ---------------------------------------------------------------- mappings


def test_unmapped_or_never_computed_features_are_refused():
    names = [f.name for f in catalogue(WINDOWS)]
    mapping = FeatureMappings(groups={"all": names[:-1]})
    with pytest.raises(ConfigError, match=r"1 computed features are in no group: " + names[-1]):
        mappings.check(names, mapping)
    mapping = FeatureMappings(groups={"all": [*names, "labs__unicorn__last_value"]})
    with pytest.raises(ConfigError, match="1 mapped features are never computed: labs__unicorn__last_value"):
        mappings.check(names, mapping)


# ---------------------------------------------------------------- training sets, selection, imputation


def test_training_set_applies_selection(spark, cohort_settings, features_written):
    store, _ = features_written
    sources = table_store(spark, cohort_settings.environment.source_schema)
    training = build_training_set(cohort_settings, sources, store)
    assert "demographics__race__black" not in training.features  # dropped feature
    features = FeatureConfig(
        cohort_settings.features.mappings,
        FeatureSelection(keep=["labs", "condition"], drop=["labs__bmi__last_value"]),
        cohort_settings.features.imputation,
    )
    selected = features.selected()
    assert all(f.startswith(("labs__", "condition__")) for f in selected)
    assert "labs__bmi__last_value" not in selected and "labs__bmi__max_12m" in selected
    frame = training.frame
    assert frame.count() == sources.read("outcomes").count()  # no labelled episode dropped
    members = frame.groupBy("member_id").agg(F.countDistinct("split").alias("splits"))
    assert members.where("splits > 1").count() == 0, "a member in two splits"
    assert {r.split for r in frame.select("split").distinct().collect()} == {"train", "validation", "test"}
    assert frame.where(F.col("feature_as_of") > F.col("index_date")).count() == 0


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
        ("episodes", lambda df: df.drop("index_date"), r"test.broken_sources.episodes: column index_date is missing"),
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
    ],
)
def test_contract_violations_stop_with_one_line(spark, cohort_settings, table, change, message):
    frames = _broken(spark, cohort_settings, table, change)
    with pytest.raises(DataError, match=message):
        check_sources(frames, "test.broken_sources", AS_OF)


@pytest.mark.parametrize(
    ("table", "change", "reason"),
    [
        (
            "members",
            lambda df: df.withColumn(
                "birth_date",
                F.when(F.col("member_id") % 100 == 1, F.lit(date(2030, 1, 1))).otherwise(F.col("birth_date")),
            ),
            "birth date after the as-of date (negative age)",
        ),
        (
            "episodes",
            lambda df: df.withColumn(
                "index_date",
                F.when(F.col("episode_id") % 50 == 1, F.date_add("delivery_date", 3)).otherwise(F.col("index_date")),
            ),
            "index date after the delivery date",
        ),
        (
            "episodes",
            lambda df: df.withColumn(
                "gestational_age_weeks",
                F.when(F.col("episode_id") % 40 == 1, F.lit(60)).otherwise(F.col("gestational_age_weeks")),
            ),
            "gestational age outside 16 to 45 weeks",
        ),
    ],
)
def test_impossible_values_are_rejected_and_the_job_goes_on(spark, cohort_settings, table, change, reason):
    frames = _broken(spark, cohort_settings, table, change)
    checked = check_sources(frames, "test.broken_sources", AS_OF)
    rejected = checked.rejected[f"{table}__rejected"]
    assert rejected.count() == checked.rejected_counts[table] > 0
    assert {r.rejected_reason for r in rejected.select("rejected_reason").distinct().collect()} == {reason}
    kept = checked.tables[table].count()
    assert kept + checked.rejected_counts[table] == frames[table].count()
