"""Landmarks: the moments of a pregnancy at which it is scored and trained on.

A plan learns of a pregnancy at its first pregnancy-related claim (`identified_date`: the
day that claim was received), not at a fixed gestational week. The configured landmarks
(`landmarks` in configs/project.yml) are the identification itself (the day after the
claim arrived, when a snapshot can first use it) and gestational weeks (LMP + 7 x week).
An episode reaches a landmark when the plan already knew of the pregnancy and she was
still pregnant: identification day <= landmark date < delivery date. Training holds one
row per labelled episode and landmark reached; inference scores an open episode at the
newest landmark it has reached, once per landmark.

The label at a landmark counts only what is not yet diagnosed there. A component the
plan already had a diagnosis of, received before the landmark, is no news to a care
manager and does not count: a hypertension code (chronic, gestational or preeclampsia)
takes the hypertensive-disorder component out of the composite; a preeclampsia code the
preeclampsia label; a gestational-diabetes code that label. The other components
(preterm birth, low birthweight, severe maternal morbidity, stillbirth, NICU) happen at
delivery, after every landmark, so they always count.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml.config.models import Landmark
from ml.data import value_sets as V
from ml.data.labels import COMPOSITE_COMPONENTS, COMPOSITE_LABEL

LOOKBACK_DAYS = 731  # a diagnosis counts as known for two years, the features' longest window

# Outcome column -> the value set whose diagnosis, received before a landmark, makes it known.
KNOWN_BY = {
    "hypertensive_disorder": V.HYPERTENSIVE_DISORDER,
    "preeclampsia": V.PREGNANCY_COMPLICATIONS["preeclampsia"],
    "gestational_diabetes": V.PREGNANCY_COMPLICATIONS["gestational_diabetes"],
}


def identification_day() -> Column:
    """The first day a snapshot can use the identifying claim (received strictly before it)."""
    return F.date_add(F.col("identified_date"), 1)


def landmark_date(landmark: Landmark) -> Column:
    if landmark.week is None:
        return identification_day()
    return F.date_add(F.col("lmp_date"), 7 * landmark.week)


def reached(day: Column) -> Column:
    """The plan knew of the pregnancy and she was still pregnant, as far as it knew."""
    return (day >= identification_day()) & (F.col("delivery_date").isNull() | (day < F.col("delivery_date")))


def landmark_rows(episodes: DataFrame, landmarks: list[Landmark]) -> DataFrame:
    """One row per episode and landmark reached: the episode's columns plus `landmark`,
    `landmark_order` (0 = earliest configured) and `landmark_date`."""
    parts = []
    for order, landmark in enumerate(landmarks):
        day = landmark_date(landmark)
        parts.append(
            episodes.where(reached(day)).select(
                "*",
                F.lit(landmark.name).alias("landmark"),
                F.lit(order).alias("landmark_order"),
                day.alias("landmark_date"),
            )
        )
    rows = parts[0]
    for part in parts[1:]:
        rows = rows.unionByName(part)
    return rows


def newest_reached(episodes: DataFrame, landmarks: list[Landmark], day) -> DataFrame:
    """Each episode's newest landmark reached on or before `day` (episodes with none: dropped)."""
    from pyspark.sql import Window

    rows = landmark_rows(episodes, landmarks).where(F.col("landmark_date") <= F.lit(day))
    newest = Window.partitionBy("episode_id").orderBy(F.col("landmark_date").desc(), F.col("landmark_order").desc())
    return rows.withColumn("_n", F.row_number().over(newest)).where(F.col("_n") == 1).drop("_n")


def _starts(code: Column, prefixes: tuple[str, ...]) -> Column:
    test = F.lit(False)
    for prefix in prefixes:
        test = test | code.startswith(prefix)
    return test


def with_known_diagnoses(rows: DataFrame, diagnoses: DataFrame) -> DataFrame:
    """`rows` (member_id, landmark_date, ...) with `known_<outcome>`: a diagnosis of it was
    received before the landmark (and made within the look-back)."""
    keys = rows.select("member_id", "landmark_date").distinct()
    coded = diagnoses.select("member_id", "service_date", "received_date", "icd10_code")
    seen = keys.join(coded, "member_id").where(
        (F.col("received_date") < F.col("landmark_date"))
        & (F.datediff(F.col("landmark_date"), F.col("service_date")) <= LOOKBACK_DAYS)
    )
    flags = seen.groupBy("member_id", "landmark_date").agg(
        *[
            F.max(_starts(F.col("icd10_code"), codes).cast("int")).alias(f"known_{name}")
            for name, codes in KNOWN_BY.items()
        ]
    )
    out = rows.join(flags, ["member_id", "landmark_date"], "left")
    return out.fillna(0, subset=[f"known_{name}" for name in KNOWN_BY])


def label_at_landmark(label: str) -> Column:
    """The outcome `label` counting only components not yet diagnosed at the landmark."""

    def new(component: str) -> Column:
        value = F.coalesce(F.col(component).cast("boolean"), F.lit(False))
        if component in KNOWN_BY:
            value = value & (F.col(f"known_{component}") == 0)
        return value

    if label == COMPOSITE_LABEL:
        result = F.lit(False)
        for component in COMPOSITE_COMPONENTS:
            result = result | new(component)
        return result.cast("double")
    return new(label).cast("double")
