"""The `outreach` task: the care managers' list for a scoring date, and a one-screen summary.

Who is on it, in one rank sequence (`outreach_rank` 1, 2, ...):
- `ranked`: pregnancies scored that day (each reached a landmark within the last
  `inference.max_landmark_age_days` days and is still under way) in the outreach tiers,
  the top `inference.capacity_share` of the champion's reference scores: care management's
  capacity. Those still before `outreach.act_before_week` come first (low-dose aspirin,
  started by week 16, prevents preeclampsia), then the rest, each highest risk first; at
  most `max_members`. These are predictions: nothing in the plan's data says yet that the
  pregnancy carries what the model anticipates.
- `already_known`, after them: detections, not predictions. A pregnancy scored that day
  with evidence of hypertension arising in this pregnancy, whatever its risk, and one in
  the outreach tiers with any other known condition (chronic hypertension, gestational
  diabetes): the plan already had a code, a reading or a fill that says so
  (ml/features/landmarks.py, the same rules the label uses). Listed apart, with the
  evidence, so the ranked list is new information.

Each row says why it is listed (`reason`), today's gestational age (`gestational_age`,
weeks+days from the estimated LMP), the landmark, its date and the days since, the
expected delivery date, and whether the member was on an earlier list of this pregnancy
(`listing`). Member rows stay in the table; the summary prints counts only.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from rich.console import Console
from rich.table import Table

from ml.config.loader import Settings
from ml.data import outputs
from ml.data.store import TableStore, table_store
from ml.errors import DataError
from ml.features.landmarks import CHRONIC, GDM, KNOWN_FLAGS, PREGNANCY_HYPERTENSION
from ml.features.training_set import with_known_at
from ml.runtime.spark import get_spark

RANKED, ALREADY_KNOWN = "ranked", "already_known"
NEW, ALREADY_LISTED = "new", "already_listed"
SECTIONS = (RANKED, ALREADY_KNOWN)


def gestational_age(days: Column) -> Column:
    """Days since the LMP as weeks+days: 29w3d."""
    return F.format_string("%dw%dd", F.floor(days / 7).cast("int"), (days % 7).cast("int"))


def known_at_scoring(sources: TableStore, predictions: DataFrame) -> DataFrame:
    """Predictions with what the plan knew on each one's scoring date (KNOWN_FLAGS and the
    evidence in words): the label's rules, applied on the scoring day."""
    episodes = sources.require("episodes").select("episode_id", "lmp_date")
    rows = predictions.join(episodes, "episode_id")
    keyed = rows.withColumnRenamed("landmark_date", "_landmark_date").withColumn("landmark_date", F.col("scoring_date"))
    known = with_known_at(keyed, sources, evidence=True)
    return known.drop("landmark_date").withColumnRenamed("_landmark_date", "landmark_date")


def sections(outreach_tiers: list[str]) -> Column:
    """ranked, already_known, or null (not listed)."""
    in_tiers = F.col("risk_tier").isin(outreach_tiers)
    any_known = F.greatest(*[F.col(flag) for flag in KNOWN_FLAGS]) > 0
    return F.when(F.col(PREGNANCY_HYPERTENSION) > 0, F.lit(ALREADY_KNOWN)).when(
        in_tiers, F.when(any_known, F.lit(ALREADY_KNOWN)).otherwise(F.lit(RANKED))
    )


def run(settings: Settings, scoring_date: date, backfill_from: date | None = None) -> dict[str, Any]:
    """The list of `scoring_date`, or of every date from `backfill_from` to it (each date's
    partition replaced), as daily runs would have written them."""
    started = time.perf_counter()
    start = min(backfill_from or scoring_date, scoring_date)
    dates = [start + timedelta(days=i) for i in range((scoring_date - start).days + 1)]
    spark = get_spark("hrob-outreach")
    store = table_store(spark, settings.namespace)
    sources = table_store(spark, settings.environment.source_schema)
    if not store.exists(outputs.PREDICTIONS):
        raise DataError(f"{store.namespace}.{outputs.PREDICTIONS} does not exist: run the score task")
    predictions = store.read(outputs.PREDICTIONS).where(
        F.col("scoring_date").between(F.lit(start), F.lit(scoring_date))
    )
    config = settings.project.inference
    summary = (
        predictions.where(F.col("scoring_date") == F.lit(scoring_date))
        .groupBy("risk_tier", "model_version")
        .count()
        .collect()
    )
    versions = sorted({r.model_version for r in summary})
    tiers = {t.name: 0 for t in config.tiers}
    for r in summary:
        tiers[r.risk_tier] += r["count"]

    known = known_at_scoring(sources, predictions)
    chosen = known.withColumn("section", sections(config.outreach.tiers)).where(F.col("section").isNotNull())
    listed_before = (
        store.read(outputs.OUTREACH).where(F.col("scoring_date") < F.lit(start)).select("episode_id").distinct()
        if store.exists(outputs.OUTREACH)
        else chosen.sparkSession.createDataFrame([], "episode_id long")
    )
    chosen = chosen.join(listed_before.withColumn("_before", F.lit(True)), "episode_id", "left")
    earlier_in_range = Window.partitionBy("episode_id").orderBy("scoring_date")
    again = F.col("_before").isNotNull() | (F.row_number().over(earlier_in_range) > 1)
    chosen = chosen.withColumn("listing", F.when(again, F.lit(ALREADY_LISTED)).otherwise(F.lit(NEW)))

    act_by = config.outreach.act_before_week
    window_open = F.lit(False) if act_by is None else F.col("gestational_age_days") < F.lit(7 * act_by)
    chosen = chosen.withColumn("_window", window_open)
    within = Window.partitionBy("scoring_date", "section").orderBy(
        F.col("_window").desc(), F.col("risk_score").desc(), F.col("episode_id")
    )
    chosen = chosen.withColumn("_within", F.row_number().over(within))
    if config.outreach.max_members:
        chosen = chosen.where((F.col("section") != RANKED) | (F.col("_within") <= config.outreach.max_members))
    per_date = Window.partitionBy("scoring_date")
    ranked_count = F.sum((F.col("section") == RANKED).cast("int")).over(per_date)
    rank = F.when(F.col("section") == RANKED, F.col("_within")).otherwise(F.col("_within") + ranked_count)
    factors = [f"top_factor_{i + 1}" for i in range(config.top_factors)]
    outreach = chosen.select(
        "scoring_date",
        "section",
        rank.alias("outreach_rank"),
        "listing",
        "member_id",
        "episode_id",
        gestational_age(F.col("gestational_age_days")).alias("gestational_age"),
        "gestational_age_days",
        "landmark",
        "landmark_date",
        "days_since_landmark",
        "expected_delivery_date",
        "risk_score",
        "risk_tier",
        reason(config.capacity_share, act_by).alias("reason"),
        F.col("known_evidence"),
        *factors,
        "model_version",
    )
    store.replace_partitions(outreach, outputs.OUTREACH, "scoring_date", values=dates)
    written = store.read(outputs.OUTREACH).where(F.col("scoring_date") == F.lit(scoring_date))
    counts = {(r.section, r.listing): r["count"] for r in written.groupBy("section", "listing").count().collect()}
    ranked = sum(n for (section, _), n in counts.items() if section == RANKED)
    seconds = time.perf_counter() - started
    result = {
        "scoring_date": scoring_date.isoformat(),
        "rows_scored": sum(tiers.values()),
        "tier_counts": tiers,
        "capacity_share": config.capacity_share,
        "outreach_members": ranked,
        "outreach_new": counts.get((RANKED, NEW), 0),
        "already_known": sum(n for (section, _), n in counts.items() if section == ALREADY_KNOWN),
        "model_version": ",".join(versions) or "-",
        "dates": len(dates),
        "seconds": round(seconds, 1),
    }
    print_summary(result, f"{store.namespace}.{outputs.OUTREACH}")
    if not counts:
        print(
            f"nobody is on the outreach list for {scoring_date}: its rows from an earlier run were removed, if any",
            flush=True,
        )
    return {
        "outreach_members": ranked,
        "already_known": result["already_known"],
        "rows_scored": result["rows_scored"],
    }


def reason(capacity: float, act_before_week: int | None) -> Column:
    """Why the row is listed, in words."""
    at = F.format_string(
        "reached the %s landmark %d day(s) ago",
        F.regexp_replace(F.col("landmark"), "_", " "),
        F.col("days_since_landmark"),
    )
    ranked = F.concat(
        F.lit(f"risk in the top {capacity:.0%} of pregnancies scored ("), F.col("risk_tier"), F.lit("); "), at
    )
    if act_before_week is not None:
        left = F.lit(7 * act_before_week) - F.col("gestational_age_days")
        ranked = F.concat(
            ranked,
            F.when(
                F.col("_window"),
                F.format_string(f"; %d day(s) left before week {act_before_week} (low-dose aspirin window)", left),
            ).otherwise(F.lit("")),
        )
    known = {
        PREGNANCY_HYPERTENSION: "hypertension of pregnancy",
        CHRONIC: "chronic hypertension",
        GDM: "gestational diabetes",
    }
    names = F.concat_ws(", ", *[F.when(F.col(flag) > 0, F.lit(words)) for flag, words in known.items()])
    detected = F.concat(F.lit("already known: "), names, F.lit("; "), at)
    return F.when(F.col("section") == RANKED, ranked).otherwise(detected)


def print_summary(result: dict[str, Any], table_name: str) -> None:
    table = Table(title=f"Scoring on {result['scoring_date']}", show_header=True)
    table.add_column("tier")
    table.add_column("pregnancies", justify="right")
    for tier, count in result["tier_counts"].items():
        table.add_row(tier, f"{count:,}")
    table.add_row("all scored", f"{result['rows_scored']:,}")
    console = Console(soft_wrap=True)
    console.print(table)
    console.print(
        f"model version {result['model_version']}; {result['outreach_members']:,} on the outreach list "
        f"({result['outreach_new']:,} new; capacity: the top {result['capacity_share']:.0%} of pregnancies scored), "
        f"{result['already_known']:,} listed apart as already known ({table_name}); "
        f"outreach step {result['seconds']:.0f}s"
        + (f" ({result['dates']} dates written, the newest shown)" if result["dates"] > 1 else ""),
        markup=False,
    )
