"""The feature job: check the sources, compute the snapshots, write them atomically.

Snapshots are partitions of the feature table by as-of date: a rerun for a date
replaces that date's rows (never duplicating them), and a run that fails part-way
leaves the previous contents readable and unchanged (ml/data/store.py).
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from pyspark.sql import functions as F

from ml.config.loader import Settings
from ml.data import outputs
from ml.data.store import table_store
from ml.errors import DataError
from ml.features import mappings
from ml.features.compute import compute_features
from ml.features.definitions import catalogue
from ml.features.sources import FEATURE_SOURCES, load_sources
from ml.features.spine import spine as build_spine
from ml.runtime.spark import get_spark, wide_rows

_STARTED = [time.perf_counter()]


def log(message: str) -> None:
    print(f"[features {time.perf_counter() - _STARTED[0]:5.0f}s] {message}", flush=True)


def run(settings: Settings, as_of: date, backfill_from: date | None = None) -> dict[str, Any]:
    started = _STARTED[0] = time.perf_counter()
    if backfill_from is not None and backfill_from >= as_of:
        raise DataError(f"--backfill-from {backfill_from} must be before --as-of {as_of}")
    spark = get_spark("hrob-features")
    sources = table_store(spark, settings.environment.source_schema)
    target = table_store(spark, settings.namespace)
    windows = settings.project.features.lookback_months

    missing = [t.name for t in FEATURE_SOURCES if not sources.exists(t.name)]
    if missing:
        raise DataError(
            f"source table {sources.namespace}.{missing[0]} does not exist ({len(missing)} of {len(FEATURE_SOURCES)} "
            f"missing): for a synthetic cohort run hrob data generate --env {settings.env}"
        )
    log(f"checking source tables in {sources.namespace}")
    checked = load_sources(sources, as_of, settings.project.sources)
    for table, reason, count in checked.rejections():
        log(f"{count:,} {table} rows rejected: {reason} (see {table}__rejected)")

    catch_up = settings.project.features.max_snapshot_age_days
    rows = build_spine(checked.tables["episodes"], as_of, settings.project.landmarks, catch_up, backfill_from).cache()
    spine_rows = rows.count()
    if spine_rows == 0:
        raise DataError(f"no pregnancy reached a landmark in the {catch_up} days to {as_of}: no snapshot to write")
    log(f"{spine_rows:,} member snapshots to compute" + (f" (backfill from {backfill_from})" if backfill_from else ""))

    computed = [f.name for f in catalogue(windows)]
    mappings.check(computed, settings.features.mappings)  # before any work is done
    features = compute_features(checked.tables, rows, windows)
    written = features.count()
    log(f"computed {written:,} snapshots")  # one per key: the spine is distinct and every part joins to it

    log(f"writing {written:,} rows x {len(computed)} features to {target.namespace}.{outputs.FEATURES}")
    partitioned = features.withColumn(outputs.FEATURE_PARTITION, F.trunc("as_of", "month").cast("date"))
    with wide_rows(spark):
        dates = target.replace_partitions(
            partitioned, outputs.FEATURES, "as_of", partition_by=outputs.FEATURE_PARTITION
        )
    target.declare_primary_key(outputs.FEATURES, list(outputs.FEATURE_KEY), timeseries="as_of")
    if checked.rejected:
        target.overwrite_many(checked.rejected)
    target.replace_partitions(rejection_counts(spark, checked, as_of), outputs.REJECTIONS, "as_of", values=[as_of])
    features.unpersist()
    rows.unpersist()
    seconds = time.perf_counter() - started
    log(
        f"done in {seconds:.0f}s: {len(dates)} as-of dates ({dates[0]} to {dates[-1]}), "
        f"{written / seconds:,.0f} snapshots/s"
    )
    return {
        "feature_rows": written,
        "as_of": as_of.isoformat(),
        "as_of_dates": len(dates),
        "rows_rejected": sum(n for _, _, n in checked.rejections()),
    }


def rejection_counts(spark, checked, as_of: date):
    """Rows rejected per table and rule on this run: kept per as-of date, so a rise in one
    rule shows over time (an empty partition when nothing was rejected)."""
    rows = [(as_of, table, reason, count) for table, reason, count in checked.rejections()]
    return spark.createDataFrame(rows, "as_of date, source_table string, reason string, rows long")


def latest_as_of(settings: Settings) -> date | None:
    store = table_store(get_spark(), settings.namespace)
    if not store.exists(outputs.FEATURES):
        return None
    return store.read(outputs.FEATURES).agg(F.max("as_of")).first()[0]
