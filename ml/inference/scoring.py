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
from ml.features.landmarks import END_COLUMNS, end_recorded, landmark_rows
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


def check_one_per_member(predictions: DataFrame, scoring_date: date | str) -> None:
    """Before anything is written: one prediction per member and date, none without a member."""
    counts = predictions.groupBy("member_id", "scoring_date").count()
    bad = counts.where((F.col("count") > 1) | F.col("member_id").isNull()).count()
    if bad:
        raise DataError(
            f"predictions for {scoring_date}: {bad:,} members with no id or more than one prediction; "
            "nothing was written"
        )


def due(settings: Settings, sources: TableStore, store: TableStore, start: date, end: date) -> DataFrame:
    """The pregnancies due on each scoring date from `start` to `end` (the module's rules),
    exactly as daily runs over those dates would score them, given what was scored before
    `start`."""
    episodes = sources.require("episodes")
    earlier = None
    if store.exists(outputs.PREDICTIONS):
        earlier = store.read(outputs.PREDICTIONS).where(F.col("scoring_date") < F.lit(start))
    rows = due_rows(episodes, settings.project.landmarks, settings.project.inference, end, earlier, start=start)
    if rows.limit(1).count() == 0 and open_episodes(episodes, end).limit(1).count() == 0:
        raise DataError(f"no pregnancy is under way on {end}: nothing to score")
    return rows


def due_rows(
    episodes: DataFrame,
    landmarks: list[Landmark],
    config: InferenceSettings,
    scoring_date: date,
    earlier: DataFrame | None = None,
    start: date | None = None,
) -> DataFrame:
    """`due` on frames, for every scoring date from `start` (default: `scoring_date`) to
    `scoring_date`; `earlier`: the predictions of dates before `start` (episode_id, landmark).

    A landmark reached on day t is due on the first scoring date d >= max(t, start) on which
    it is still the newest landmark reached, no more than `max_landmark_age_days` old, the
    pregnancy under way (identified before d, no end received before d, d not past the
    expected delivery + margin): the date a daily run would have scored it.
    """
    start = start or scoring_date
    episodes = episodes.select(
        "episode_id", "member_id", "lmp_date", "identified_date", "expected_delivery_date", *END_COLUMNS
    ).where(F.col("member_id").isNotNull())
    # a member's next pregnancy, once the plan knows of it, makes this one stale
    newer = Window.partitionBy("member_id").orderBy("lmp_date", "episode_id")
    episodes = episodes.withColumn("_newer_known", F.lead("identified_date").over(newer))
    reached = landmark_rows(episodes, landmarks)
    following = Window.partitionBy("episode_id").orderBy("landmark_date", "landmark_order")
    reached = reached.withColumn("_next", F.lead("landmark_date").over(following))
    first = F.greatest(F.col("landmark_date"), F.lit(start), F.date_add(F.col("identified_date"), 1))
    ended = end_recorded()
    last = F.least(
        F.date_add(F.col("landmark_date"), config.max_landmark_age_days),
        F.coalesce(F.date_sub(F.col("_next"), 1), F.lit(scoring_date)),
        F.lit(scoring_date),
        F.date_add(F.col("expected_delivery_date"), config.past_due_margin_days),
        F.coalesce(ended, F.lit(scoring_date)),
        F.coalesce(F.col("_newer_known"), F.lit(scoring_date)),
    )
    rows = reached.withColumn("scoring_date", first).where(F.col("scoring_date") <= last)
    if earlier is not None:
        rows = rows.join(earlier.select("episode_id", "landmark").distinct(), ["episode_id", "landmark"], "left_anti")
    # one pregnancy per member and date: the latest LMP (an earlier one whose end has not arrived)
    latest = Window.partitionBy("member_id", "scoring_date").orderBy(
        F.col("lmp_date").desc(), F.col("episode_id").desc()
    )
    rows = rows.withColumn("_n", F.row_number().over(latest)).where(F.col("_n") == 1)
    week = F.round(F.datediff(F.col("landmark_date"), F.col("lmp_date")) / 7.0, 1)
    return rows.select(
        "member_id",
        "episode_id",
        "lmp_date",
        "landmark",
        "landmark_date",
        week.alias("landmark_week"),
        "scoring_date",
        F.datediff(F.col("scoring_date"), F.col("lmp_date")).alias("gestational_age_days"),
        F.datediff(F.col("scoring_date"), F.col("landmark_date")).alias("days_since_landmark"),
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


def run(settings: Settings, scoring_date: date, backfill_from: date | None = None) -> dict[str, Any]:
    """Score `scoring_date`, or every date from `backfill_from` to it as daily runs would
    have (a new environment's history, or days the job did not run): one pass, each date's
    partition replaced."""
    started = time.perf_counter()
    start = min(backfill_from or scoring_date, scoring_date)
    dates = [start + timedelta(days=i) for i in range((scoring_date - start).days + 1)]
    spark = get_spark("hrob-score")
    configure_mlflow()
    name = settings.model_name
    scorer, version = load_scorer(name, alias=registry.CHAMPION)
    sources = table_store(spark, settings.environment.source_schema)
    store = table_store(spark, settings.namespace)
    features = store.require(outputs.FEATURES, fix=f"run the feature job (hrob run features --env {settings.env})")
    check_fresh(features, scoring_date, settings)
    check_features(scorer, features, f"{store.namespace}.{outputs.FEATURES}")

    cohort = due(settings, sources, store, start, scoring_date)
    max_age = settings.project.features.max_snapshot_age_days
    rows = point_in_time_join(
        cohort,
        lookup_columns(features, scorer.features),
        "landmark_date",
        entity_id=["episode_id", "landmark"],
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
    when = f"{scoring_date}" if start == scoring_date else f"{start} to {scoring_date} ({len(dates)} dates)"
    print(
        f"[score] {when}: {total:,} pregnancies reached a new landmark ("
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
    columns = outputs.prediction_columns(config.top_factors)
    predictions = predictions.select(*[F.col(name).cast(kind).alias(name) for name, kind in columns])
    predictions = predictions.cache()  # scored once: the write reads its partition values and rows
    check_one_per_member(predictions, when)
    store.replace_partitions(predictions, outputs.PREDICTIONS, "scoring_date", values=dates)
    predictions.unpersist()
    rows.unpersist()
    seconds = time.perf_counter() - started
    print(
        f"[score] wrote {total:,} predictions for {when} to {store.namespace}.{outputs.PREDICTIONS} in {seconds:.0f}s"
        + (": the date's partition is empty (an earlier run's rows removed, if any)" if not total else ""),
        flush=True,
    )
    return {
        "rows_scored": total,
        "model_version": version,
        "scoring_date": scoring_date.isoformat(),
        "scoring_dates": len(dates),
        "skipped_without_snapshot": sum(skipped.values()),
    }
