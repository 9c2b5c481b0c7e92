"""How true a day's ranked outreach list is, judged with what only the generator knows.

The plan cannot see a claim still in transit or a birth whose claim has not arrived; the
synthetic cohort's generator-only tables can (ml/data/schema.py GENERATOR_ONLY). For a
synthetic cohort this measures, from the tables a run leaves, what share of the ranked
list already carried a component of the label on the scoring day:
- coded, received or still in transit, dated before the scoring day: chronic
  hypertension (I10-I13, I15, O10, within two years) or hypertension arising in this
  pregnancy (O11, O13-O16, on or after its true LMP);
- or the pregnancy had already ended (a delivery, with whatever outcome it had, or a loss).
Counts only: no member row leaves this function.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml.data import schema as S
from ml.data import value_sets as V
from ml.data.store import TableStore
from ml.features.landmarks import LOOKBACK_DAYS


def _starts(prefixes: tuple[str, ...]):
    test = F.lit(False)
    for prefix in prefixes:
        test = test | F.col("icd10_code").startswith(prefix)
    return test


def list_truth(sources: TableStore, ranked: DataFrame) -> dict[str, float | int | None]:
    """`ranked`: ranked rows of one or more scoring dates (episode_id, member_id,
    scoring_date, days_since_landmark, gestational_age_days, expected_delivery_date), each
    judged on its own scoring date. Shares are of its rows."""
    rows = ranked.select(
        "episode_id",
        "member_id",
        "scoring_date",
        "days_since_landmark",
        "gestational_age_days",
        "expected_delivery_date",
    )
    truth = sources.require(S.ORACLE.name).select("episode_id", "true_lmp_date", "pregnancy_end_date")
    codes = sources.require(S.DIAGNOSES.name).unionByName(sources.require(S.DIAGNOSES_IN_TRANSIT.name))
    codes = codes.select(F.col("member_id").alias("_member"), "service_date", "icd10_code")
    before = (F.col("member_id") == F.col("_member")) & (F.col("service_date") < F.col("scoring_date"))
    joined = rows.join(truth, "episode_id", "left").join(codes, before, "left")
    day = F.col("scoring_date")
    chronic = _starts(V.CHRONIC_HYPERTENSION) & (F.datediff(day, F.col("service_date")) <= LOOKBACK_DAYS)
    onset = _starts(V.PREGNANCY_HYPERTENSION) & (F.col("service_date") >= F.col("true_lmp_date"))
    per_row = joined.groupBy("episode_id", "scoring_date").agg(
        F.max(F.coalesce(chronic, F.lit(False)).cast("int")).alias("chronic"),
        F.max(F.coalesce(onset, F.lit(False)).cast("int")).alias("onset"),
        F.max((F.col("pregnancy_end_date") < day).cast("int")).alias("ended"),
        F.first("days_since_landmark").alias("days"),
        F.first("gestational_age_days").alias("ga"),
        F.max((F.col("expected_delivery_date") < day).cast("int")).alias("past_due"),
    )
    carrying = F.greatest("chronic", "onset", "ended")
    r = per_row.agg(
        F.count("*").alias("rows"),
        F.avg("chronic").alias("chronic"),
        F.avg("onset").alias("onset"),
        F.avg("ended").alias("ended"),
        F.avg(carrying).alias("carrying"),
        F.sum("past_due").alias("past_due"),
        F.percentile("days", 0.5).alias("days"),
        F.max("days").alias("max_days"),
        F.percentile("ga", 0.5).alias("ga"),
    ).first()
    if not r.rows:
        return {"rows": 0}

    def share(value) -> float:
        return round(float(value or 0.0), 4)

    return {
        "rows": int(r.rows),
        "dates": ranked.select("scoring_date").distinct().count(),
        "share_already_carrying": share(r.carrying),
        "share_coded_chronic_hypertension": share(r.chronic),
        "share_coded_hypertension_of_pregnancy": share(r.onset),
        "share_already_ended": share(r.ended),
        "past_expected_delivery": int(r.past_due or 0),
        "median_days_since_landmark": float(r.days),
        "max_days_since_landmark": int(r.max_days),
        "median_gestational_week_today": round(float(r.ga) / 7, 1),
    }
