"""Point-in-time lookups: for each entity and timestamp, the latest feature row whose
as_of is at or before that timestamp, never a later one.

Rows with no earlier feature row keep every feature missing: they are not dropped.
Training looks up features at each episode's index date; inference at the scoring date.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def point_in_time_join(
    entities: DataFrame, features: DataFrame, timestamp: str, key: str = "member_id", entity_id: str = "episode_id"
) -> DataFrame:
    """`entities` with the feature columns of the latest feature row (as_of <= timestamp).

    Adds `feature_as_of` (null when no row qualified). Features keep their own names;
    `entities` must not share them.
    """
    # The lookup runs on the narrow (key, as_of) pairs; the wide rows are joined once, by
    # equality, to the chosen as_of (measured: windowing over 560-column rows was the
    # slowest step of building a training set).
    feature_columns = [c for c in features.columns if c not in (key, "as_of")]
    snapshots = features.select(F.col(key).alias("_pit_key"), F.col("as_of").alias("feature_as_of"))
    candidates = entities.join(
        snapshots,
        (entities[key] == snapshots["_pit_key"]) & (snapshots["feature_as_of"] <= entities[timestamp]),
        "left",
    )
    latest = Window.partitionBy(entity_id).orderBy(F.col("feature_as_of").desc_nulls_last())
    chosen = (
        candidates.withColumn("_pit_rank", F.row_number().over(latest))
        .where(F.col("_pit_rank") == 1)
        .drop("_pit_rank", "_pit_key")
    )
    # Only the snapshot dates some entity chose are read: on a table partitioned by as_of,
    # scoring one day reads one partition instead of every one (measured: 24 s -> 3 s).
    dates = [
        r[0] for r in chosen.where(F.col("feature_as_of").isNotNull()).select("feature_as_of").distinct().collect()
    ]
    wide = features.where(F.col("as_of").isin(dates)).select(
        F.col(key).alias("_pit_key"), F.col("as_of").alias("_pit_as_of"), *feature_columns
    )
    joined = chosen.join(
        wide, (chosen[key] == wide["_pit_key"]) & (chosen["feature_as_of"] == wide["_pit_as_of"]), "left"
    )
    return joined.drop("_pit_key", "_pit_as_of")
