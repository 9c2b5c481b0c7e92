"""Training sets: labelled episodes, their point-in-time features, the member split.

The split is by member (a hash of the member id and the seed), so no member is in two
parts, and it does not move when episodes are added. Subgroup columns (race and
ethnicity, age band, rurality) travel with the rows for evaluation; they are not
features unless a feature group provides them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml.config.loader import Settings
from ml.config.models import SplitConfig
from ml.data import outputs
from ml.data.store import TableStore
from ml.errors import DataError
from ml.features.point_in_time import point_in_time_join

SUBGROUPS = ("race_ethnicity", "age_band", "rurality")
SPLITS = ("train", "validation", "test")
_BUCKETS = 1_000_000


def age_band(age: Column) -> Column:
    return F.when(age < 20, "under_20").when(age < 35, "20_to_34").otherwise("35_plus")


def split_of(member_id: Column, seed: int, split: SplitConfig) -> Column:
    """train / validation / test by a hash of the member: stable, and grouped by member."""
    u = F.pmod(F.xxhash64(member_id, F.lit(seed)), F.lit(_BUCKETS)) / F.lit(float(_BUCKETS))
    return F.when(u < split.train, "train").when(u < split.train + split.validation, "validation").otherwise("test")


def episodes_with_context(sources: TableStore) -> DataFrame:
    """Episodes with their member's subgroup columns."""
    members = sources.require("members").select("member_id", "birth_date", "race_ethnicity", "rurality")
    episodes = sources.require("episodes").select("episode_id", "member_id", "index_date", "delivery_date")
    age = F.months_between(F.col("index_date"), F.col("birth_date")) / 12.0
    return episodes.join(members, "member_id").withColumn("age_band", age_band(age)).drop("birth_date")


def labelled_episodes(sources: TableStore, label: str) -> DataFrame:
    outcomes = sources.require("outcomes").select(
        "episode_id", "recorded_date", F.col(label).cast("double").alias("label")
    )
    return episodes_with_context(sources).join(outcomes, "episode_id")


@dataclass
class TrainingSet:
    frame: DataFrame  # episode_id, member_id, index_date, split, label, subgroups, features
    features: list[str]
    label: str


def build(settings: Settings, sources: TableStore, store: TableStore, where: Column | None = None) -> TrainingSet:
    """Every labelled episode (or those `where` keeps; it may use `split`) with its
    point-in-time features and split."""
    label = settings.project.model.label
    features = settings.features.selected()
    table = store.require(outputs.FEATURES)
    missing = [f for f in features if f not in table.columns]
    if missing:
        raise DataError(
            f"{store.namespace}.{outputs.FEATURES} lacks {len(missing)} selected features "
            f"(first: {missing[0]}): rerun the feature job"
        )
    training = settings.project.training
    episodes = labelled_episodes(sources, label).withColumn(
        "split", split_of(F.col("member_id"), training.seed, training.split_config)
    )
    if where is not None:
        episodes = episodes.where(where)
    frame = point_in_time_join(episodes, table.select("member_id", "as_of", *features), "index_date")
    return TrainingSet(frame, features, label)
