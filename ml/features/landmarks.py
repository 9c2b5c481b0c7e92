"""Landmarks: the moments of a pregnancy at which it is scored and trained on.

A plan learns of a pregnancy at its first pregnancy-related claim (`identified_date`: the
day that claim was received), not at a fixed gestational week. The configured landmarks
(`landmarks` in configs/project.yml) are the identification itself (the day after the
claim arrived, when a snapshot can first use it) and gestational weeks (LMP + 7 x week).
An episode reaches a landmark when the plan already knew of the pregnancy and she was
still pregnant: identification day <= landmark date < delivery date. Training holds one
row per labelled episode and landmark reached; inference scores an open episode at the
newest landmark it has reached, once per landmark.

The label at a landmark counts only what is new there (ml/data/labels.py names the parts).
Whether a part was already known is read from every channel the plan had received before
the landmark (`with_known`), not only from diagnoses:
- chronic hypertension: a chronic hypertension code (I10-I13, I15, O10) within the two-year
  look-back, or an antihypertensive filled within it before week 20 of this pregnancy;
- hypertension arising in this pregnancy (gestational hypertension, preeclampsia,
  superimposed or not): a code of it (O11, O13-O16) dated on or after this pregnancy's LMP,
  or work-up evidence after week 20: a urine protein ratio of 0.3 or more, and, in a member
  without known chronic hypertension (whose pressures and fills are the chronic disease's),
  a systolic pressure of 140 or more or an antihypertensive fill;
- gestational diabetes: its code (O24.4) on or after this pregnancy's LMP, or a glucose
  challenge of 140 mg/dL or more in this pregnancy.
A code from an earlier pregnancy never makes this one's onset known, and preeclampsia
superimposed on known chronic hypertension still counts. The other components (preterm
birth, low birthweight, severe maternal morbidity, stillbirth, NICU) happen at the end of
the pregnancy, after every landmark, so they always count. Episodes that end in a loss
have no outcome: they are never labelled, only scored while open.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml.config.models import Landmark
from ml.data import value_sets as V
from ml.data.labels import COMPOSITE_COMPONENTS, COMPOSITE_LABEL, HYPERTENSIVE_PARTS

LOOKBACK_DAYS = 731  # chronic evidence counts for two years, the features' longest window
AFTER_WEEK_20_DAYS = 140
SYSTOLIC_RAISED, PROTEIN_RATIO_RAISED, GLUCOSE_CHALLENGE_RAISED = 140.0, 0.3, 140.0

# What makes each part known, by the flag `with_known` adds.
CHRONIC, PREGNANCY_HYPERTENSION, GDM = "known_chronic_hypertension", "known_pregnancy_hypertension", "known_gdm"
KNOWN_FLAGS = (CHRONIC, PREGNANCY_HYPERTENSION, GDM)
KNOWN_BY = {
    "chronic_hypertension": CHRONIC,
    "gestational_hypertension": PREGNANCY_HYPERTENSION,
    "preeclampsia": PREGNANCY_HYPERTENSION,
    "superimposed_preeclampsia": PREGNANCY_HYPERTENSION,
    "gestational_diabetes": GDM,
}
READABLE_KNOWN = {
    CHRONIC: "chronic hypertension",
    PREGNANCY_HYPERTENSION: "hypertension of pregnancy",
    GDM: "gestational diabetes",
}
# Episode columns saying how a pregnancy ended, as the plan received it.
END_COLUMNS = ("delivery_date", "delivery_recorded_date", "loss_date", "loss_recorded_date")


def pregnancy_end() -> Column:
    """The day the pregnancy ended, a delivery or a loss (null: open as far as the plan knows)."""
    return F.coalesce(F.col("delivery_date"), F.col("loss_date"))


def end_recorded() -> Column:
    """When the plan received the claim that ended the pregnancy."""
    return F.coalesce(F.col("delivery_recorded_date"), F.col("loss_recorded_date"))


def identification_day() -> Column:
    """The first day a snapshot can use the identifying claim (received strictly before it)."""
    return F.date_add(F.col("identified_date"), 1)


def landmark_date(landmark: Landmark) -> Column:
    if landmark.week is None:
        return identification_day()
    return F.date_add(F.col("lmp_date"), 7 * landmark.week)


def reached(day: Column) -> Column:
    """The plan knew of the pregnancy and she was still pregnant, as far as it knew."""
    end = pregnancy_end()
    return (day >= identification_day()) & (end.isNull() | (day < end))


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


def _evidence(keys: DataFrame, diagnoses: DataFrame, fills: DataFrame, labs: DataFrame) -> DataFrame:
    """One row per piece of evidence received before a key's landmark: (member_id, lmp_date,
    landmark_date, flag, workup, day, text). `workup`: it counts only without known chronic
    hypertension."""
    after_week_20 = F.col("day") >= F.date_add(F.col("lmp_date"), AFTER_WEEK_20_DAYS)
    in_pregnancy = F.col("day") >= F.col("lmp_date")
    recent = F.datediff(F.col("landmark_date"), F.col("day")) <= LOOKBACK_DAYS

    def arrived(events: DataFrame, day: str) -> DataFrame:
        events = events.withColumnRenamed(day, "day")
        return keys.join(events, "member_id").where(F.col("received_date") < F.col("landmark_date"))

    def piece(frame: DataFrame, where: Column, flag: str, text: Column, workup: bool = False) -> DataFrame:
        return frame.where(where).select(
            "member_id",
            "lmp_date",
            "landmark_date",
            F.lit(flag).alias("flag"),
            F.lit(workup).alias("workup"),
            "day",
            text.alias("text"),
        )

    code = F.col("icd10_code")
    coded = arrived(diagnoses.select("member_id", "service_date", "received_date", "icd10_code"), "service_date")
    diagnosis = F.concat(F.lit("diagnosis "), code)
    rx = arrived(
        fills.where(F.col("drug_class") == "antihypertensive").select("member_id", "fill_date", "received_date"),
        "fill_date",
    )
    tests = ("systolic_bp", "urine_protein_ratio", "glucose_challenge")
    lab = arrived(
        labs.where(F.col("test_code").isin(*tests) & F.col("result_value").isNotNull()).select(
            "member_id", "order_date", "received_date", "test_code", "result_value"
        ),
        "order_date",
    )
    value = F.col("result_value")
    test = F.col("test_code")
    parts = [
        piece(coded, _starts(code, V.CHRONIC_HYPERTENSION) & recent, CHRONIC, diagnosis),
        piece(rx, ~after_week_20 & recent, CHRONIC, F.lit("antihypertensive filled before week 20")),
        piece(coded, _starts(code, V.PREGNANCY_HYPERTENSION) & in_pregnancy, PREGNANCY_HYPERTENSION, diagnosis),
        piece(
            lab,
            (test == "urine_protein_ratio") & (value >= PROTEIN_RATIO_RAISED) & after_week_20,
            PREGNANCY_HYPERTENSION,
            F.format_string("urine protein ratio %.2f after week 20", value),
        ),
        piece(
            lab,
            (test == "systolic_bp") & (value >= SYSTOLIC_RAISED) & after_week_20,
            PREGNANCY_HYPERTENSION,
            F.format_string("systolic pressure %.0f mmHg after week 20", value),
            workup=True,
        ),
        piece(rx, after_week_20, PREGNANCY_HYPERTENSION, F.lit("antihypertensive filled after week 20"), workup=True),
        piece(coded, _starts(code, V.GESTATIONAL_DIABETES) & in_pregnancy, GDM, diagnosis),
        piece(
            lab,
            (test == "glucose_challenge") & (value >= GLUCOSE_CHALLENGE_RAISED) & in_pregnancy,
            GDM,
            F.format_string("glucose challenge %.0f mg/dL in this pregnancy", value),
        ),
    ]
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def with_known(
    rows: DataFrame, diagnoses: DataFrame, fills: DataFrame, labs: DataFrame, evidence: bool = False
) -> DataFrame:
    """`rows` (member_id, lmp_date, landmark_date, ...) with the KNOWN_FLAGS (0/1): what the
    plan had received before the landmark said of each part (the module's rules). With
    `evidence`, also `known_evidence`: what made each flag, in words, newest first."""
    keys = rows.select("member_id", "lmp_date", "landmark_date").distinct()
    found = _evidence(keys, diagnoses, fills, labs)
    by = ["member_id", "lmp_date", "landmark_date"]

    def seen(flag: str, workup: bool | None = None) -> Column:
        test = F.col("flag") == flag
        if workup is not None:
            test = test & (F.col("workup") == workup)
        return F.max(test.cast("int"))

    flags = found.groupBy(*by).agg(
        seen(CHRONIC).alias("_chronic"),
        seen(PREGNANCY_HYPERTENSION, workup=False).alias("_pregnancy"),
        seen(PREGNANCY_HYPERTENSION, workup=True).alias("_workup"),
        seen(GDM).alias("_gdm"),
        *(
            [
                F.sort_array(F.collect_list(F.struct(F.col("day"), F.col("flag"), F.col("text"))), asc=False).alias(
                    "_why"
                )
            ]
            if evidence
            else []
        ),
    )
    chronic = F.coalesce(F.col("_chronic"), F.lit(0))
    pregnancy = F.coalesce(F.col("_pregnancy"), F.lit(0))
    workup = F.coalesce(F.col("_workup"), F.lit(0))
    out = rows.join(flags, by, "left").select(
        "*",
        chronic.alias(CHRONIC),
        F.greatest(pregnancy, F.when(chronic == 0, workup).otherwise(0)).alias(PREGNANCY_HYPERTENSION),
        F.coalesce(F.col("_gdm"), F.lit(0)).alias(GDM),
    )
    if evidence:
        # a work-up reading of a member with known chronic hypertension is the chronic disease's
        counted = F.filter(
            F.col("_why"),
            lambda e: ~((e["flag"] == PREGNANCY_HYPERTENSION) & (F.col("_chronic") == 1) & _is_workup(e["text"])),
        )
        words = F.transform(
            counted,
            lambda e: F.format_string(
                "%s: %s (%s)", _readable_flag(e["flag"]), e["text"], F.date_format(e["day"], "yyyy-MM-dd")
            ),
        )
        out = out.withColumn("known_evidence", F.when(F.size(words) > 0, F.array_join(words, "; ")))
    return out.drop("_chronic", "_pregnancy", "_workup", "_gdm", "_why")


def _is_workup(text: Column) -> Column:
    return text.startswith("systolic") | text.startswith("antihypertensive filled after")


def _readable_flag(flag: Column) -> Column:
    out = None
    for name, words in READABLE_KNOWN.items():
        out = F.when(flag == name, words) if out is None else out.when(flag == name, words)
    return out


def label_at_landmark(label: str) -> Column:
    """The outcome `label` counting only parts not yet known at the landmark (`with_known`)."""

    def new(part: str) -> Column:
        value = F.coalesce(F.col(part).cast("boolean"), F.lit(False))
        if part in KNOWN_BY:
            value = value & (F.col(KNOWN_BY[part]) == 0)
        return value

    def component(name: str) -> Column:
        if name != "hypertensive_disorder":
            return new(name)
        result = F.lit(False)
        for part in HYPERTENSIVE_PARTS:
            result = result | new(part)
        return result

    if label == COMPOSITE_LABEL:
        result = F.lit(False)
        for name in COMPOSITE_COMPONENTS:
            result = result | component(name)
        return result.cast("double")
    return component(label).cast("double")
