"""Training sets: a row per labelled episode and landmark it reached, with the features
the plan had at that landmark, the label as it stood there, and its part.

- Censoring-safe labels: an episode is labelled only once its window must have closed and
  its claims come in: expected delivery + the 42-day outcome window +
  `training.censoring_margin_days` before the run's as-of date (and its outcome recorded
  by then). Counting an episode as soon as its outcome is recorded would favour the
  pregnancies that ended early, which are the preterm ones, in the newest months.
- Labels as known then: the label at a landmark counts only what was not yet known there
  (ml/features/landmarks.py); episodes that ended in a loss have no outcome and no label.
- Temporal and member-wise parts: members are split by a hash of the member id and the
  split's seed (no member in two parts, stable as episodes are added), and episodes by
  their expected delivery into the development period and the newest
  `validation.holdout_months` of censoring-safe months (the recent period). Train and
  validation rows (the search) come from the development period; in the recent period,
  validation members' episodes recalibrate (`calibration`) and every other member's are
  the holdout (`test`): later months than anything the model learned from, whoever the
  member, as the deployed model meets them (a member's earlier pregnancy may have been
  trained on; this one was not). Test members' development-period episodes are used by
  nobody.
- Features: the point-in-time snapshot at the landmark date (ml/features/point_in_time.py),
  never older than `features.max_snapshot_age_days` nor from before the LMP; a row
  without one keeps its features missing and the reason in `feature_gap`.
- Subgroup columns (race and ethnicity, age band, rurality, language) and the landmark
  travel with the rows for evaluation; they are not features unless a feature group
  provides them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml.config.loader import Settings
from ml.config.models import SplitConfig
from ml.data import outputs
from ml.data.labels import OUTCOME_COLUMNS, POSTPARTUM_WINDOW_DAYS
from ml.data.store import TableStore
from ml.errors import DataError
from ml.features.landmarks import END_COLUMNS, label_at_landmark, landmark_rows, with_known
from ml.features.point_in_time import lookup_columns, point_in_time_join

SUBGROUPS = ("race_ethnicity", "age_band", "rurality", "primary_language")
SPLITS = ("train", "validation", "calibration", "test")
KEY_COLUMNS = ("episode_id", "member_id", "landmark", "landmark_date")
_BUCKETS = 1_000_000


@dataclass(frozen=True)
class Periods:
    """The censoring-safe episodes of a run as of `as_of`, by expected delivery date: the
    development period before `recent_from`, the recent one from it up to `safe_until`."""

    as_of: date
    recent_from: date
    safe_until: date  # expected deliveries before this day are censoring-safe

    @classmethod
    def of(cls, settings: Settings, as_of: date) -> Periods:
        margin = POSTPARTUM_WINDOW_DAYS + settings.project.training.censoring_margin_days
        safe_until = as_of - timedelta(days=margin)
        months = settings.project.validation.holdout_months
        year, month = divmod(safe_until.year * 12 + safe_until.month - 1 - months, 12)
        recent_from = safe_until.replace(year=year, month=month + 1, day=min(safe_until.day, 28))
        return cls(as_of, recent_from, safe_until)

    def describe(self) -> str:
        return (
            f"expected deliveries before {self.recent_from} for training, {self.recent_from} to {self.safe_until} "
            f"for the holdout and recalibration (censoring-safe as of {self.as_of})"
        )


def age_band(age: Column) -> Column:
    return F.when(age < 20, "under_20").when(age < 35, "20_to_34").otherwise("35_plus")


def split_of(member_id: Column, split: SplitConfig, seed: int | None = None) -> Column:
    """train / validation / test by a hash of the member and the split's seed (or `seed`):
    stable, and grouped by member."""
    seed = split.seed if seed is None else seed
    u = F.pmod(F.xxhash64(member_id, F.lit(seed)), F.lit(_BUCKETS)) / F.lit(float(_BUCKETS))
    return F.when(u < split.train, "train").when(u < split.train + split.validation, "validation").otherwise("test")


def recalibrated_under(member_id: Column, split: SplitConfig, seeds: list[int]) -> Column:
    """Whether the member is a validation member (whose recent episodes recalibrate a
    model) under any one of `seeds`."""
    calibrating = F.lit(False)
    for seed in seeds:
        calibrating = calibrating | (split_of(member_id, split, seed) == "validation")
    return calibrating


def episodes_with_context(sources: TableStore) -> DataFrame:
    """Episodes with their member's subgroup columns (age at the LMP)."""
    members = sources.require("members").select(
        "member_id", "birth_date", "race_ethnicity", "rurality", "primary_language"
    )
    episodes = sources.require("episodes").select(
        "episode_id", "member_id", "lmp_date", "identified_date", "expected_delivery_date", *END_COLUMNS
    )
    age = F.months_between(F.col("lmp_date"), F.col("birth_date")) / 12.0
    return episodes.join(members, "member_id").withColumn("age_band", age_band(age)).drop("birth_date")


def labelled_episodes(sources: TableStore, periods: Periods) -> DataFrame:
    """Censoring-safe episodes (expected delivery before `periods.safe_until`) whose outcome
    was recorded before the as-of date, with every outcome column."""
    outcomes = sources.require("outcomes").select("episode_id", "recorded_date", *OUTCOME_COLUMNS)
    known = outcomes.where(F.col("recorded_date") < F.lit(periods.as_of))
    safe = F.col("expected_delivery_date") < F.lit(periods.safe_until)
    return episodes_with_context(sources).where(safe).join(known, "episode_id")


def part_of(split: Column, expected_delivery: Column, periods: Periods) -> Column:
    """train / validation (development period), calibration / test (recent period), or null."""
    recent = expected_delivery >= F.lit(periods.recent_from)
    return (
        F.when(~recent & split.isin("train", "validation"), split)
        .when(recent & (split == "validation"), F.lit("calibration"))
        .when(recent, F.lit("test"))
    )


def with_known_at(rows: DataFrame, sources: TableStore, evidence: bool = False) -> DataFrame:
    """`rows` with what the plan already knew at each landmark (ml/features/landmarks.py)."""
    return with_known(
        rows,
        sources.require("diagnoses"),
        sources.require("pharmacy_fills"),
        sources.require("lab_results"),
        evidence=evidence,
    )


def labelled_landmarks(settings: Settings, sources: TableStore, as_of: date) -> DataFrame:
    """One row per censoring-safe labelled episode and landmark reached before `as_of`, with
    the label at the landmark, the subgroups and the expected delivery date, whoever the
    member: what training parts and the monitor's realised metrics are drawn from."""
    periods = Periods.of(settings, as_of)
    rows = landmark_rows(labelled_episodes(sources, periods), settings.project.landmarks)
    rows = rows.where(F.col("landmark_date") < F.lit(as_of))
    rows = with_known_at(rows, sources)
    return rows.select(
        *KEY_COLUMNS,
        "lmp_date",
        "expected_delivery_date",
        label_at_landmark(settings.project.model.label).alias("label"),
        *SUBGROUPS,
    )


def landmark_examples(settings: Settings, sources: TableStore, as_of: date) -> DataFrame:
    """`labelled_landmarks` with each row's part (`split`); rows of no part are dropped."""
    periods = Periods.of(settings, as_of)
    member_split = split_of(F.col("member_id"), settings.project.training.split_config)
    rows = labelled_landmarks(settings, sources, as_of)
    return rows.select(
        *KEY_COLUMNS,
        "lmp_date",
        "label",
        part_of(member_split, F.col("expected_delivery_date"), periods).alias("split"),
        *SUBGROUPS,
    ).where(F.col("split").isNotNull())


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
