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


# ---------------------------------------------------------------- concurrent writers


def test_two_writers_at_once_both_land_and_neither_deletes_the_other(spark, store):
    """Two partition replacements of one table started together (the feature job for two
    dates, say): without the table's lock both start from the same version and the second
    commit drops the first one's date."""
    import threading

    days = [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)]
    store.replace_partitions(rows_by_day(spark, days[0], 3, "first"), "f", "as_of")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(day):
        df = rows_by_day(spark, day, 20, "second")
        barrier.wait()
        try:
            store.replace_partitions(df, "f", "as_of")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(day,)) for day in days[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    counts = {r["as_of"]: r["count"] for r in store.read("f").groupBy("as_of").count().collect()}
    assert counts == {days[0]: 3, days[1]: 20, days[2]: 20}
    versions = [p for p in (store.root / "f").iterdir() if p.is_dir()]
    assert len(versions) <= 2, "the live version and the one a reader may still be on"


def test_a_writer_waits_for_another_process_holding_the_table(spark, store, tmp_path):
    """The lock is between processes: a second process holds the table; the write waits for
    it, or gives up with one line naming the holder when the wait is too long."""
    import subprocess
    import sys
    import time

    table_dir = store.root / "f"
    store.replace_partitions(rows_by_day(spark, date(2024, 1, 1), 2, "first"), "f", "as_of")
    ready = tmp_path / "ready"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, pathlib\n"
            "from ml.data.table_lock import table_lock\n"
            "with table_lock(pathlib.Path(sys.argv[1]), 'f'):\n"
            "    pathlib.Path(sys.argv[2]).touch()\n"
            "    time.sleep(float(sys.argv[3]))\n",
            str(table_dir),
            str(ready),
            "3",
        ]
    )
    try:
        while not ready.exists():
            time.sleep(0.05)
        from ml.data.table_lock import table_lock

        busy = rf"table f is being written by pid {holder.pid} since .*gave up after 0s"
        with pytest.raises(DataError, match=busy), table_lock(table_dir, "f", timeout=0):
            pass
        started = time.monotonic()
        store.replace_partitions(rows_by_day(spark, date(2024, 1, 2), 2, "second"), "f", "as_of")
        assert time.monotonic() - started > 1.0, "the write waited for the other process"
    finally:
        holder.wait(timeout=30)
    assert holder.returncode == 0
    assert store.read("f").count() == 4


def test_an_unwritable_table_is_one_line_and_the_table_is_unchanged(spark, store, tmp_path):
    import os

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    elsewhere = LocalParquetStore(spark, "test.blocked", root=blocked)
    with pytest.raises(DataError, match=r"table test\.blocked\.f: cannot write to .*a-file/test/blocked/f \(.+\)$"):
        elsewhere.replace_partitions(rows_by_day(spark, date(2024, 1, 1), 2, "x"), "f", "as_of")

    store.replace_partitions(rows_by_day(spark, date(2024, 1, 1), 2, "first"), "f", "as_of")
    if os.geteuid() == 0:
        return  # root writes through a read-only folder's permissions: the case above stands in
    table_dir = store.root / "f"
    table_dir.chmod(0o555)
    try:
        with pytest.raises(DataError, match=r"table test\.store_\w+\.f: cannot write to .* \(permission denied\)"):
            store.replace_partitions(rows_by_day(spark, date(2024, 1, 2), 2, "second"), "f", "as_of")
    finally:
        table_dir.chmod(0o755)
    assert store.read("f").count() == 2


def test_a_file_whose_types_drifted_is_one_line_from_a_task(spark, store, tmp_path, capsys):
    """String values in a file of a table whose metadata says double (a file copied in by
    hand, say): the task that reads it prints one line naming the file, exit status 2."""
    import shutil

    from ml.jobs.entry import run_task

    store.overwrite(spark.createDataFrame([(1, 0.5)], "id long, x double"), "t")
    version = store._live_version("t")
    for part in version.glob("*.parquet"):
        part.unlink()
    spark.createDataFrame([(1, "a")], "id long, x string").coalesce(1).write.parquet(str(tmp_path / "drift"))
    shutil.copy(next((tmp_path / "drift").glob("*.parquet")), version / "part-00000-drift.parquet")

    with pytest.raises(SystemExit) as exited:
        run_task("probe", lambda parser: None, lambda args, settings: store.read("t").collect(), ["--env", "local"])
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: probe: Encountered error while reading file "), lines
    assert "part-00000-drift.parquet" in lines[0] and "[FAILED_READ_FILE.PARQUET_COLUMN_DATA_TYPE_MISMATCH]" in lines[0]
