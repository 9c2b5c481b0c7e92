"""The `score` task: every pregnancy open on the scoring date, scored by the champion
from point-in-time features, written to the predictions table (partitioned by scoring
date: a rerun replaces that date only; a failure leaves the table as it was)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ml.config.loader import Settings
from ml.config.models import Tier
from ml.data import outputs
from ml.data.store import table_store
from ml.errors import DataError
from ml.features.definitions import descriptions
from ml.features.point_in_time import point_in_time_join
from ml.features.spine import is_open
from ml.inference.model import check_features, load_scorer, score
from ml.registry import client as registry
from ml.runtime.spark import get_spark
from ml.runtime.tracking import configure_mlflow


def tier_of(score_column: Column, tiers: list[Tier]) -> Column:
    """The first tier (highest first) whose min_score the score reaches."""
    expr = None
    for tier in tiers:
        test = score_column >= F.lit(tier.min_score)
        expr = F.when(test, F.lit(tier.name)) if expr is None else expr.when(test, F.lit(tier.name))
    return expr


def open_episodes(sources, scoring_date: date) -> DataFrame:
    episodes = sources.require("episodes").select("episode_id", "member_id", "index_date", "delivery_date")
    return episodes.where(is_open(scoring_date)).drop("delivery_date")


def run(settings: Settings, scoring_date: date) -> dict[str, Any]:
    started = time.perf_counter()
    spark = get_spark("hrob-score")
    configure_mlflow()
    name = settings.model_name
    scorer, version = load_scorer(name, alias=registry.CHAMPION)
    sources = table_store(spark, settings.environment.source_schema)
    store = table_store(spark, settings.namespace)
    features = store.require(outputs.FEATURES)
    check_features(scorer, features, f"{store.namespace}.{outputs.FEATURES}")

    cohort = open_episodes(sources, scoring_date).withColumn("scoring_date", F.lit(scoring_date))
    counts = cohort.agg(F.count("*").alias("n")).first()
    if counts.n == 0:
        raise DataError(f"no pregnancy is open on {scoring_date}: nothing to score")
    rows = point_in_time_join(cohort, features.select("member_id", "as_of", *scorer.features), "scoring_date").cache()
    stats = rows.agg(
        F.count("*").alias("total"),
        F.sum((F.col("feature_as_of").isNull() | (F.col("feature_as_of") < F.lit(scoring_date))).cast("int")),
    ).first()
    total, stale = stats[0], stats[1] or 0
    print(
        f"[score] {total:,} open pregnancies on {scoring_date}; champion {name} v{version}"
        + (f"; {stale:,} without a feature snapshot of that day (older or none used)" if stale else ""),
        flush=True,
    )

    config = settings.project.inference
    readable = descriptions(settings.project.features.lookback_months)
    keys = ["member_id", "episode_id", "index_date", "scoring_date", "feature_as_of"]
    scored = score(rows, scorer, keys, config.top_factors, readable, config.factor_method == "exact")
    ranking = Window.partitionBy("scoring_date").orderBy(F.col("risk_score").desc(), F.col("episode_id"))
    predictions = scored.select(
        *keys,
        F.round("risk_score", 6).alias("risk_score"),
        F.row_number().over(ranking).alias("risk_rank"),
        tier_of(F.col("risk_score"), config.tiers).alias("risk_tier"),
        *[f"top_factor_{i + 1}" for i in range(config.top_factors)],
        F.lit(name).alias("model_name"),
        F.lit(version).alias("model_version"),
        F.lit(datetime.now(UTC).replace(tzinfo=None)).cast("timestamp").alias("scored_at"),
    )
    predictions = predictions.cache()  # scored once: the write reads its partition values and rows
    predictions.count()
    store.replace_partitions(predictions, outputs.PREDICTIONS, "scoring_date")
    predictions.unpersist()
    rows.unpersist()
    seconds = time.perf_counter() - started
    print(
        f"[score] wrote {total:,} predictions for {scoring_date} to {store.namespace}.{outputs.PREDICTIONS} "
        f"in {seconds:.0f}s",
        flush=True,
    )
    return {"rows_scored": total, "model_version": version, "scoring_date": scoring_date.isoformat()}
