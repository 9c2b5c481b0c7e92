"""The `score` task: each pregnancy under way on the scoring date that reached a landmark in
the last `inference.max_landmark_age_days` days, scored by the champion at that landmark,
once per landmark, from the features the plan had there; written to the predictions table,
partitioned by scoring date.

- Under way, as the plan saw it: identified before the scoring date, no claim of its end (a
  delivery or a loss) received, and not past its expected delivery date (+
  `inference.past_due_margin_days`): past it the birth has most likely happened and its
  claim not yet arrived.
- Recently reached: the newest landmark reached within the last `max_landmark_age_days`
  days. A landmark passed weeks ago (a pregnancy identified late, a day the job did not
  run) is not scored from a backlog: the list is of pregnancies a care manager can still
  act on now.
- Once per landmark: an episode scored at its newest landmark on an earlier date is not
  scored again until it reaches the next one. A rerun for a date replaces that date (and
  only that date) with the same episodes.
- One prediction per member and date: a member with two open episodes (a data error, a
  pregnancy recorded twice, or an earlier one whose end has not arrived) is scored for the
  one with the latest LMP; an episode with no member is never scored. Checked before
  anything is written.
- A point-in-time snapshot older than `features.max_snapshot_age_days`, or from before
  the LMP, is never used: that episode is skipped, counted by reason.
- Tiers: the top shares (`inference.tiers`) of the champion's reference scores, its holdout
  (ml/training/scorer.py ScoreReference), so a tier is sized to capacity, not to a score.
- Each row carries today's gestational age (days since the estimated LMP), the days since
  the landmark and the expected delivery date: what a care manager reads on the list.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ml.config.loader import Settings
from ml.config.models import InferenceSettings, Landmark, Tier
from ml.data import outputs
from ml.data.store import TableStore, table_store
from ml.errors import DataError
from ml.features.definitions import descriptions
from ml.features.landmarks import END_COLUMNS, newest_reached
from ml.features.point_in_time import lookup_columns, point_in_time_join
from ml.features.spine import is_open
from ml.inference.model import check_features, load_scorer, score
from ml.registry import client as registry
from ml.runtime.spark import get_spark
from ml.runtime.tracking import configure_mlflow
from ml.training.scorer import ScoreReference

KEYS = [
    "member_id",
    "episode_id",
    "landmark",
    "landmark_date",
    "landmark_week",
    "scoring_date",
    "gestational_age_days",
    "days_since_landmark",
    "expected_delivery_date",
    "feature_as_of",
]


def tier_cutoffs(tiers: list[Tier], reference: ScoreReference | None) -> dict[str, float]:
    """Each tier's lowest score: its top share of the reference scores (0 for the last)."""
    if reference is None:
        raise DataError(
            "the champion has no reference scores to size its tiers by (trained before they were kept): "
            "train and promote a new version"
        )
    return {t.name: reference.cutoff(t.top_share) if t.top_share is not None else 0.0 for t in tiers}


def tier_of(score_column: Column, cutoffs: dict[str, float]) -> Column:
    """The first tier (highest first) whose cut-off the score reaches."""
    expr = None
    for name, cutoff in cutoffs.items():
        test = score_column >= F.lit(cutoff)
        expr = F.when(test, F.lit(name)) if expr is None else expr.when(test, F.lit(name))
    return expr


def open_episodes(episodes: DataFrame, scoring_date: date, past_due_margin_days: int = 0) -> DataFrame:
    """Pregnancies under way on the scoring date, one per member (the latest LMP)."""
    episodes = episodes.select(
        "episode_id", "member_id", "lmp_date", "identified_date", "expected_delivery_date", *END_COLUMNS
    )
    not_past_due = F.date_add(F.col("expected_delivery_date"), past_due_margin_days) >= F.lit(scoring_date)
    latest = Window.partitionBy("member_id").orderBy(F.col("lmp_date").desc(), F.col("episode_id").desc())
    open_now = episodes.where(is_open(scoring_date) & not_past_due & F.col("member_id").isNotNull())
    return open_now.withColumn("_n", F.row_number().over(latest)).where(F.col("_n") == 1).drop("_n")


def check_one_per_member(predictions: DataFrame, scoring_date: date) -> None:
    """Before anything is written: one prediction per member, none without a member."""
    counts = predictions.groupBy("member_id").count()
    bad = counts.where((F.col("count") > 1) | F.col("member_id").isNull()).count()
    if bad:
        raise DataError(
            f"predictions for {scoring_date}: {bad:,} members with no id or more than one prediction; "
            "nothing was written"
        )


def due(settings: Settings, sources: TableStore, store: TableStore, scoring_date: date) -> DataFrame:
    """Pregnancies under way at the newest landmark they reached, if within the last
    `max_landmark_age_days` days and not scored there on an earlier date."""
    episodes = sources.require("episodes")
    earlier = None
    if store.exists(outputs.PREDICTIONS):
        earlier = store.read(outputs.PREDICTIONS).where(F.col("scoring_date") < F.lit(scoring_date))
    rows = due_rows(episodes, settings.project.landmarks, settings.project.inference, scoring_date, earlier)
    if rows.limit(1).count() == 0 and open_episodes(episodes, scoring_date).limit(1).count() == 0:
        raise DataError(f"no pregnancy is under way on {scoring_date}: nothing to score")
    return rows


def due_rows(
    episodes: DataFrame,
    landmarks: list[Landmark],
    config: InferenceSettings,
    scoring_date: date,
    earlier: DataFrame | None = None,
) -> DataFrame:
    """`due` on frames: `earlier`, the predictions of earlier dates (episode_id, landmark)."""
    open_now = open_episodes(episodes, scoring_date, config.past_due_margin_days)
    reached = newest_reached(open_now, landmarks, scoring_date)
    reached = reached.where(
        F.col("landmark_date") >= F.lit(scoring_date - timedelta(days=config.max_landmark_age_days))
    )
    if earlier is not None:
        reached = reached.join(
            earlier.select("episode_id", "landmark").distinct(), ["episode_id", "landmark"], "left_anti"
        )
    week = F.round(F.datediff(F.col("landmark_date"), F.col("lmp_date")) / 7.0, 1)
    return reached.select(
        "member_id",
        "episode_id",
        "lmp_date",
        "landmark",
        "landmark_date",
        week.alias("landmark_week"),
        F.lit(scoring_date).alias("scoring_date"),
        F.datediff(F.lit(scoring_date), F.col("lmp_date")).alias("gestational_age_days"),
        F.datediff(F.lit(scoring_date), F.col("landmark_date")).alias("days_since_landmark"),
        "expected_delivery_date",
    )


def check_fresh(features: DataFrame, scoring_date: date, settings: Settings) -> None:
    """Scoring waits for the day's features (on Databricks the job starts on their table's
    update; here, and should a run start early, this check refuses)."""
    age = settings.project.inference.max_feature_age_days
    newest = features.agg(F.max("as_of")).first()[0]
    if newest is None or newest < scoring_date - timedelta(days=age):
        raise DataError(
            f"{settings.namespace}.{outputs.FEATURES}: newest snapshot {newest}, older than {age} day(s) before "
            f"the scoring date {scoring_date} (inference.max_feature_age_days): run the feature job first "
            f"(hrob run features --env {settings.env} --param as_of={scoring_date})"
        )


def run(settings: Settings, scoring_date: date) -> dict[str, Any]:
    started = time.perf_counter()
    spark = get_spark("hrob-score")
    configure_mlflow()
    name = settings.model_name
    scorer, version = load_scorer(name, alias=registry.CHAMPION)
    sources = table_store(spark, settings.environment.source_schema)
    store = table_store(spark, settings.namespace)
    features = store.require(outputs.FEATURES, fix=f"run the feature job (hrob run features --env {settings.env})")
    check_fresh(features, scoring_date, settings)
    check_features(scorer, features, f"{store.namespace}.{outputs.FEATURES}")

    cohort = due(settings, sources, store, scoring_date)
    max_age = settings.project.features.max_snapshot_age_days
    rows = point_in_time_join(
        cohort,
        lookup_columns(features, scorer.features),
        "landmark_date",
        max_age_days=max_age,
        not_before="lmp_date",
    ).cache()
    counted = rows.groupBy("landmark", "feature_gap").count().collect()
    by_landmark: dict[str, int] = {}
    skipped: dict[str, int] = {}
    for r in counted:
        if r.feature_gap is None:
            by_landmark[r.landmark] = by_landmark.get(r.landmark, 0) + r["count"]
        else:
            skipped[r.feature_gap] = skipped.get(r.feature_gap, 0) + r["count"]
    total = sum(by_landmark.values())
    print(
        f"[score] {scoring_date}: {total:,} pregnancies reached a new landmark ("
        + ", ".join(f"{lm.name} {by_landmark.get(lm.name, 0):,}" for lm in settings.project.landmarks)
        + f"); champion {name} v{version}"
        + (f"; skipped, no usable snapshot: {', '.join(f'{r} {n:,}' for r, n in skipped.items())}" if skipped else ""),
        flush=True,
    )

    config = settings.project.inference
    readable = descriptions(settings.project.features.lookback_months)
    usable = rows.where(F.col("feature_gap").isNull()).drop("feature_gap", "lmp_date")
    scored = score(usable, scorer, KEYS, config.top_factors, readable, config.factor_method == "exact")
    ranking = Window.partitionBy("scoring_date").orderBy(F.col("risk_score").desc(), F.col("episode_id"))
    predictions = scored.select(
        *KEYS,
        F.round("risk_score", 6).alias("risk_score"),
        F.row_number().over(ranking).alias("risk_rank"),
        tier_of(F.col("risk_score"), tier_cutoffs(config.tiers, scorer.reference)).alias("risk_tier"),
        *[f"top_factor_{i + 1}" for i in range(config.top_factors)],
        F.lit(name).alias("model_name"),
        F.lit(version).alias("model_version"),
        F.lit(datetime.now(UTC).replace(tzinfo=None)).cast("timestamp").alias("scored_at"),
    )
    predictions = predictions.cache()  # scored once: the write reads its partition values and rows
    check_one_per_member(predictions, scoring_date)
    store.replace_partitions(predictions, outputs.PREDICTIONS, "scoring_date", values=[scoring_date])
    predictions.unpersist()
    rows.unpersist()
    seconds = time.perf_counter() - started
    print(
        f"[score] wrote {total:,} predictions for {scoring_date} to {store.namespace}.{outputs.PREDICTIONS} "
        f"in {seconds:.0f}s"
        + (": the date's partition is empty (an earlier run's rows removed, if any)" if not total else ""),
        flush=True,
    )
    return {
        "rows_scored": total,
        "model_version": version,
        "scoring_date": scoring_date.isoformat(),
        "skipped_without_snapshot": sum(skipped.values()),
    }
