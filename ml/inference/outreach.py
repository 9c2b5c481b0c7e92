"""The `outreach` task: the care managers' list for a scoring date, and a one-screen summary.

Who is on it: members whose pregnancy reached a new landmark that day and scored in the
outreach tiers (`inference.outreach.tiers`), highest risk first, at most `max_members`.
Each row says whether the member is new to the list or was listed at an earlier landmark
of this pregnancy (`listing`). A member whose pregnancy already carries a diagnosis of
what the model anticipates (a pregnancy-onset hypertensive disorder, O11-O16, or
gestational diabetes, O24.4, received before the scoring date) is already in care for
it: such members are listed apart (`section`: already_diagnosed), after the ranked
members, so the ranked list is new information.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from rich.console import Console
from rich.table import Table

from ml.config.loader import Settings
from ml.data import outputs
from ml.data import value_sets as V
from ml.data.store import TableStore, table_store
from ml.errors import DataError
from ml.runtime.spark import get_spark

RANKED, ALREADY_DIAGNOSED = "ranked", "already_diagnosed"
NEW, ALREADY_LISTED = "new", "already_listed"


def diagnosed_in_pregnancy(
    sources: TableStore, listed: DataFrame, scoring_date: date, codes: DataFrame | None = None
) -> DataFrame:
    """Episodes of `listed` with a pregnancy-onset diagnosis (value_sets.PREGNANCY_ONSET)
    dated in this pregnancy before the scoring date, among `codes` (diagnosis rows; by
    default the plan's, received before the scoring date)."""
    if codes is None:
        codes = sources.require("diagnoses").where(F.col("received_date") < F.lit(scoring_date))
    episodes = sources.require("episodes").select("episode_id", "lmp_date")
    onset = F.lit(False)
    for prefix in V.PREGNANCY_ONSET:
        onset = onset | F.col("icd10_code").startswith(prefix)
    return (
        listed.select("episode_id", "member_id")
        .join(episodes, "episode_id")
        .join(codes.select("member_id", "service_date", "icd10_code"), "member_id")
        .where(onset & (F.col("service_date") >= F.col("lmp_date")) & (F.col("service_date") < F.lit(scoring_date)))
        .select("episode_id")
        .distinct()
    )


def run(settings: Settings, scoring_date: date) -> dict[str, Any]:
    started = time.perf_counter()
    spark = get_spark("hrob-outreach")
    store = table_store(spark, settings.namespace)
    sources = table_store(spark, settings.environment.source_schema)
    if not store.exists(outputs.PREDICTIONS):
        raise DataError(f"{store.namespace}.{outputs.PREDICTIONS} does not exist: run the score task")
    predictions = store.read(outputs.PREDICTIONS).where(F.col("scoring_date") == F.lit(scoring_date))
    config = settings.project.inference
    summary = predictions.groupBy("risk_tier", "model_version").count().collect()
    versions = sorted({r.model_version for r in summary})
    tiers = {t.name: 0 for t in config.tiers}
    for r in summary:
        tiers[r.risk_tier] += r["count"]

    candidates = predictions.where(F.col("risk_tier").isin(config.outreach.tiers)).cache()
    diagnosed = diagnosed_in_pregnancy(sources, candidates, scoring_date).withColumn("_diagnosed", F.lit(True))
    listed_before = (
        store.read(outputs.OUTREACH).where(F.col("scoring_date") < F.lit(scoring_date)).select("episode_id").distinct()
        if store.exists(outputs.OUTREACH)
        else None
    )
    chosen = candidates.join(diagnosed, "episode_id", "left").withColumn(
        "section", F.when(F.col("_diagnosed"), F.lit(ALREADY_DIAGNOSED)).otherwise(F.lit(RANKED))
    )
    if listed_before is not None:
        chosen = chosen.join(listed_before.withColumn("_listed", F.lit(True)), "episode_id", "left")
    else:
        chosen = chosen.withColumn("_listed", F.lit(None).cast("boolean"))
    chosen = chosen.withColumn("listing", F.when(F.col("_listed"), F.lit(ALREADY_LISTED)).otherwise(F.lit(NEW)))
    within = Window.partitionBy("section").orderBy(F.col("risk_score").desc(), F.col("episode_id"))
    chosen = chosen.withColumn("outreach_rank", F.row_number().over(within))
    if config.outreach.max_members:
        chosen = chosen.where(F.col("outreach_rank") <= config.outreach.max_members)
    factors = [f"top_factor_{i + 1}" for i in range(config.top_factors)]
    outreach = chosen.select(
        "scoring_date",
        "section",
        "outreach_rank",
        "listing",
        "member_id",
        "episode_id",
        "landmark",
        "gestational_week",
        "risk_score",
        "risk_tier",
        *factors,
        "model_version",
    )
    store.replace_partitions(outreach, outputs.OUTREACH, "scoring_date", values=[scoring_date])
    candidates.unpersist()
    written = store.read(outputs.OUTREACH).where(F.col("scoring_date") == F.lit(scoring_date))
    counts = {(r.section, r.listing): r["count"] for r in written.groupBy("section", "listing").count().collect()}
    ranked = sum(n for (section, _), n in counts.items() if section == RANKED)
    seconds = time.perf_counter() - started
    result = {
        "scoring_date": scoring_date.isoformat(),
        "rows_scored": sum(tiers.values()),
        "tier_counts": tiers,
        "outreach_members": ranked,
        "outreach_new": counts.get((RANKED, NEW), 0),
        "already_diagnosed": sum(n for (section, _), n in counts.items() if section == ALREADY_DIAGNOSED),
        "model_version": ",".join(versions) or "-",
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
        "already_diagnosed": result["already_diagnosed"],
        "rows_scored": result["rows_scored"],
    }


def print_summary(result: dict[str, Any], table_name: str) -> None:
    table = Table(title=f"Scoring on {result['scoring_date']}", show_header=True)
    table.add_column("tier")
    table.add_column("members", justify="right")
    for tier, count in result["tier_counts"].items():
        table.add_row(tier, f"{count:,}")
    table.add_row("all scored", f"{result['rows_scored']:,}")
    console = Console(soft_wrap=True)
    console.print(table)
    console.print(
        f"model version {result['model_version']}; {result['outreach_members']:,} members on the outreach list "
        f"({result['outreach_new']:,} new), {result['already_diagnosed']:,} listed apart as already diagnosed "
        f"({table_name}); outreach step {result['seconds']:.0f}s",
        markup=False,
    )
