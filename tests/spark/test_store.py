"""The table adapter on local Parquet: round trips, partition replacement, and writes
that fail part-way leaving the previous contents intact."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from pyspark.sql import functions as F

from ml.data.store import LocalParquetStore, table_store
from ml.errors import DataError

pytestmark = pytest.mark.spark


@pytest.fixture
def store(spark):
    return table_store(spark, f"test.store_{uuid.uuid4().hex[:6]}")


def rows_by_day(spark, day: date, n: int, value: str):
    return spark.range(n).select(F.col("id").alias("member_id"), F.lit(day).alias("as_of"), F.lit(value).alias("v"))


def test_local_store_is_parquet_under_hrob_home(store, hrob_home):
    assert isinstance(store, LocalParquetStore)
    assert store.location("t").startswith(str(hrob_home / "warehouse" / "test"))


def test_round_trip_keeps_rows_and_types(spark, store):
    df = spark.createDataFrame([(1, date(2024, 1, 2), 0.5, None)], "id long, d date, x double, s string")
    store.overwrite(df, "t")
    back = store.read("t")
    assert back.schema == df.schema
    assert back.collect() == df.collect()


def test_missing_table_is_a_one_line_error(store):
    assert not store.exists("nothing")
    with pytest.raises(DataError, match=r"table test\.store_\w+\.nothing does not exist"):
        store.require("nothing")


def test_replace_partition_replaces_that_date_only(spark, store):
    d1, d2 = date(2024, 1, 1), date(2024, 2, 1)
    store.replace_partitions(rows_by_day(spark, d1, 3, "first"), "f", "as_of")
    store.replace_partitions(rows_by_day(spark, d2, 2, "first"), "f", "as_of")
    store.replace_partitions(rows_by_day(spark, d1, 4, "rerun"), "f", "as_of")

    per_day = store.read("f").groupBy("as_of").agg(F.count("*").alias("n"), F.first("v").alias("v"))
    counts = {r["as_of"]: (r["n"], r["v"]) for r in per_day.collect()}
    assert counts == {d1: (4, "rerun"), d2: (2, "first")}


def test_failed_overwrite_leaves_previous_contents(spark, store):
    store.overwrite(spark.range(5).toDF("n"), "t")
    exploding = (
        spark.range(5)
        .toDF("n")
        .select(F.when(F.col("n") == 3, F.raise_error(F.lit("boom"))).otherwise(F.col("n")).alias("n"))
    )
    with pytest.raises(Exception, match="boom"):
        store.overwrite(exploding, "t")
    assert sorted(r.n for r in store.read("t").collect()) == [0, 1, 2, 3, 4]
    versions = [p for p in (store.root / "t").iterdir() if p.is_dir()]
    assert len(versions) == 1, "the half-written version must be cleaned up"


def test_a_reader_of_the_previous_version_can_finish(spark, store):
    store.overwrite(spark.range(3).toDF("n"), "t")
    reader = store.read("t")  # lazy: bound to the version live now
    store.overwrite(spark.range(5).toDF("n"), "t")
    assert reader.count() == 3
    store.overwrite(spark.range(7).toDF("n"), "t")
    assert len([p for p in (store.root / "t").iterdir() if p.is_dir()]) == 2, "older versions are removed"


def test_failed_partition_replace_leaves_every_partition(spark, store):
    d1, d2 = date(2024, 1, 1), date(2024, 2, 1)
    store.replace_partitions(rows_by_day(spark, d1, 3, "a"), "f", "as_of")
    store.replace_partitions(rows_by_day(spark, d2, 3, "b"), "f", "as_of")
    before = sorted(store.read("f").collect())
    bad = rows_by_day(spark, d1, 3, "c").withColumn(
        "v", F.when(F.col("member_id") == 2, F.raise_error(F.lit("mid-write"))).otherwise(F.col("v"))
    )
    with pytest.raises(Exception, match="mid-write"):
        store.replace_partitions(bad, "f", "as_of")
    assert sorted(store.read("f").collect()) == before


def test_partition_replace_with_a_new_column_keeps_old_partitions(spark, store):
    d1, d2 = date(2024, 1, 1), date(2024, 2, 1)
    store.replace_partitions(rows_by_day(spark, d1, 2, "old"), "f", "as_of")
    wider = rows_by_day(spark, d2, 2, "new").withColumn("extra", F.lit(1.5))
    store.replace_partitions(wider, "f", "as_of")
    back = store.read("f")
    assert "extra" in back.columns
    old_rows = back.where(F.col("as_of") == d1).collect()
    assert len(old_rows) == 2 and all(r.extra is None and r.v == "old" for r in old_rows)


def test_partition_column_must_be_a_date(spark, store):
    with pytest.raises(DataError, match="partition columns must be dates"):
        store.replace_partitions(spark.range(2).toDF("n"), "f", "n")
