"""Training sets: a row per labelled episode and landmark it reached, with the features
the plan had at that landmark, the label as it stood there, and the member split.

- Labels as known then: an episode is labelled only if its outcome was recorded before
  the training run's as-of date, and its landmark rows are those dated before it.
- The label at a landmark counts only outcomes not yet diagnosed there
  (ml/features/landmarks.py).
- Features: the point-in-time snapshot at the landmark date (ml/features/point_in_time.py),
  never older than `features.max_snapshot_age_days` nor from before the LMP; a row
  without one keeps its features missing and the reason in `feature_gap`.
- The split is by member (a hash of the member id and the seed), so no member is in two
  parts, and it does not move when episodes are added. Subgroup columns (race and
  ethnicity, age band, rurality) and the landmark travel with the rows for evaluation;
  they are not features unless a feature group provides them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml.config.loader import Settings
from ml.config.models import SplitConfig
from ml.data import outputs
from ml.data.labels import OUTCOME_COLUMNS
from ml.data.store import TableStore
from ml.errors import DataError
from ml.features.landmarks import label_at_landmark, landmark_rows, with_known_diagnoses
from ml.features.point_in_time import lookup_columns, point_in_time_join

SUBGROUPS = ("race_ethnicity", "age_band", "rurality")
SPLITS = ("train", "validation", "test")
KEY_COLUMNS = ("episode_id", "member_id", "landmark", "landmark_date")
_BUCKETS = 1_000_000


def age_band(age: Column) -> Column:
    return F.when(age < 20, "under_20").when(age < 35, "20_to_34").otherwise("35_plus")


def split_of(member_id: Column, split: SplitConfig, seed: int | None = None) -> Column:
    """train / validation / test by a hash of the member and the split's seed (or `seed`):
    stable, and grouped by member."""
    seed = split.seed if seed is None else seed
    u = F.pmod(F.xxhash64(member_id, F.lit(seed)), F.lit(_BUCKETS)) / F.lit(float(_BUCKETS))
    return F.when(u < split.train, "train").when(u < split.train + split.validation, "validation").otherwise("test")


def in_test_under(member_id: Column, split: SplitConfig, seeds: list[int]) -> Column:
    """Whether the member is in the test part under every one of `seeds`."""
    test = F.lit(True)
    for seed in seeds:
        test = test & (split_of(member_id, split, seed) == "test")
    return test


def episodes_with_context(sources: TableStore) -> DataFrame:
    """Episodes with their member's subgroup columns (age at the LMP)."""
    members = sources.require("members").select("member_id", "birth_date", "race_ethnicity", "rurality")
    episodes = sources.require("episodes").select(
        "episode_id", "member_id", "lmp_date", "identified_date", "delivery_date", "delivery_recorded_date"
    )
    age = F.months_between(F.col("lmp_date"), F.col("birth_date")) / 12.0
    return episodes.join(members, "member_id").withColumn("age_band", age_band(age)).drop("birth_date")


def labelled_episodes(sources: TableStore, as_of: date) -> DataFrame:
    """Episodes whose outcome was recorded before `as_of`, with every outcome column."""
    outcomes = sources.require("outcomes").select("episode_id", "recorded_date", *OUTCOME_COLUMNS)
    known = outcomes.where(F.col("recorded_date") < F.lit(as_of))
    return episodes_with_context(sources).join(known, "episode_id")


def landmark_examples(settings: Settings, sources: TableStore, as_of: date) -> DataFrame:
    """One row per labelled episode and landmark reached before `as_of`: the label at the
    landmark, the split, the subgroups."""
    training = settings.project.training
    rows = landmark_rows(labelled_episodes(sources, as_of), settings.project.landmarks)
    rows = rows.where(F.col("landmark_date") < F.lit(as_of))
    rows = with_known_diagnoses(rows, sources.require("diagnoses"))
    return rows.select(
        *KEY_COLUMNS,
        "lmp_date",
        label_at_landmark(settings.project.model.label).alias("label"),
        split_of(F.col("member_id"), training.split_config).alias("split"),
        *SUBGROUPS,
    )


@dataclass
class TrainingSet:
    frame: DataFrame  # KEY_COLUMNS, split, label, subgroups, features, feature_as_of, feature_gap
    features: list[str]
    label: str
    as_of: date


def check_feature_table(table: DataFrame, features: list[str], where: str) -> None:
    missing = [f for f in features if f not in table.columns]
    if missing:
        raise DataError(f"{where} lacks {len(missing)} selected features (first: {missing[0]}): rerun the feature job")


def build(
    settings: Settings,
    sources: TableStore,
    store: TableStore,
    as_of: date,
    where: Column | None = None,
    features: list[str] | None = None,
) -> TrainingSet:
    """Every landmark row of every episode labelled before `as_of` (or those `where` keeps:
    it may use `split`, `landmark_date`...) with its point-in-time features."""
    features = features or settings.features.selected()
    table = store.require(outputs.FEATURES, fix=f"run the feature job (hrob run features --env {settings.env})")
    check_feature_table(table, features, f"{store.namespace}.{outputs.FEATURES}")
    examples = landmark_examples(settings, sources, as_of)
    if where is not None:
        examples = examples.where(where)
    frame = point_in_time_join(
        examples,
        lookup_columns(table, features),
        "landmark_date",
        entity_id=["episode_id", "landmark"],
        max_age_days=settings.project.features.max_snapshot_age_days,
        not_before="lmp_date",
    ).drop("lmp_date")
    return TrainingSet(frame, features, settings.project.model.label, as_of)
