"""Which (member_id, as_of) snapshots the feature job writes.

A daily run on date D snapshots every member with a pregnancy open on D (index date
reached, not yet delivered): the rows inference scores, and in production, run after
run, a row for every episode on its index date. A backfill emulates that history for
past episodes at a weekly cadence: each episode indexed since the backfill date gets
one snapshot on the first day of its index week (counted from the backfill date), so
its point-in-time lookup finds a row at most six days old.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

BACKFILL_EVERY_DAYS = 7


def is_open(day: date) -> Column:
    """An episode's pregnancy is open on `day`: index date reached, not yet delivered."""
    return (F.col("index_date") <= F.lit(day)) & (
        F.col("delivery_date").isNull() | (F.col("delivery_date") > F.lit(day))
    )


def open_on(episodes: DataFrame, day: date) -> DataFrame:
    """Members with a pregnancy open on `day`."""
    return episodes.where(is_open(day)).select("member_id", F.lit(day).alias("as_of"))


def backfill(episodes: DataFrame, start: date, until: date, every_days: int = BACKFILL_EVERY_DAYS) -> DataFrame:
    """One snapshot per episode indexed in [start, until), dated the start of its index week."""
    offset = F.floor(F.datediff(F.col("index_date"), F.lit(start)) / every_days) * every_days
    indexed = (F.col("index_date") >= F.lit(start)) & (F.col("index_date") < F.lit(until))
    return episodes.where(indexed).select("member_id", F.date_add(F.lit(start), offset.cast("int")).alias("as_of"))


def spine(episodes: DataFrame, as_of: date, backfill_from: date | None = None) -> DataFrame:
    rows = open_on(episodes, as_of)
    if backfill_from is not None:
        rows = rows.unionByName(backfill(episodes, backfill_from, as_of))
    return rows.distinct()
