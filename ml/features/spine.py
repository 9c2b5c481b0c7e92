"""Which (member_id, as_of) snapshots the feature job writes: one per episode at each
landmark it reaches, dated the landmark day, which is what training and scoring look up
(ml/features/landmarks.py).

A daily run on date D snapshots the landmarks reached in the last
`features.max_snapshot_age_days` days up to D (a missed day is caught up; a snapshot
computed later still sees only rows received before its date). A backfill emulates that
history for past episodes: every landmark reached since the backfill date.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml.config.models import Landmark
from ml.features.landmarks import end_recorded, landmark_rows


def is_open(day: Column | date) -> Column:
    """The pregnancy is open on `day` as far as the plan knows: its identifying claim arrived
    before that day and no claim of its end (a delivery or a loss) had."""
    day = day if isinstance(day, Column) else F.lit(day)
    ended = end_recorded()
    return (F.col("identified_date") < day) & (ended.isNull() | (ended >= day))


def landmark_snapshots(episodes: DataFrame, start: date, until: date, landmarks: list[Landmark]) -> DataFrame:
    """A snapshot at every landmark an episode reached in [start, until]."""
    rows = landmark_rows(episodes, landmarks)
    within = (F.col("landmark_date") >= F.lit(start)) & (F.col("landmark_date") <= F.lit(until))
    return rows.where(within).select("member_id", F.col("landmark_date").alias("as_of"))


def spine(
    episodes: DataFrame,
    as_of: date,
    landmarks: list[Landmark],
    catch_up_days: int,
    backfill_from: date | None = None,
) -> DataFrame:
    start = as_of - timedelta(days=catch_up_days)
    if backfill_from is not None:
        start = min(start, backfill_from)
    return landmark_snapshots(episodes, start, as_of, landmarks).distinct()
