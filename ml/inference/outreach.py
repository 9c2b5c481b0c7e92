"""The `outreach` task: the care managers' list for a scoring date (the configured tiers,
highest risk first, at most `max_members`), and a one-screen summary of the scoring."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from pyspark.sql import functions as F
from rich.console import Console
from rich.table import Table

from ml.config.loader import Settings
from ml.data import outputs
from ml.data.store import table_store
from ml.errors import DataError
from ml.runtime.spark import get_spark


def run(settings: Settings, scoring_date: date) -> dict[str, Any]:
    started = time.perf_counter()
    store = table_store(get_spark("hrob-outreach"), settings.namespace)
    predictions = store.require(outputs.PREDICTIONS).where(F.col("scoring_date") == F.lit(scoring_date))
    config = settings.project.inference
    summary = predictions.groupBy("risk_tier", "model_version").count().collect()
    if not summary:
        raise DataError(f"{store.namespace}.{outputs.PREDICTIONS} has no rows for {scoring_date}: run the score task")
    versions = sorted({r.model_version for r in summary})
    tiers = {t.name: 0 for t in config.tiers}
    for r in summary:
        tiers[r.risk_tier] += r["count"]

    chosen = predictions.where(F.col("risk_tier").isin(config.outreach.tiers)).orderBy("risk_rank")
    if config.outreach.max_members:
        chosen = chosen.limit(config.outreach.max_members)
    factors = [f"top_factor_{i + 1}" for i in range(config.top_factors)]
    outreach = chosen.select(
        "scoring_date",
        "risk_rank",
        "member_id",
        "episode_id",
        "index_date",
        "risk_score",
        "risk_tier",
        *factors,
        "model_version",
    )
    store.replace_partitions(outreach, outputs.OUTREACH, "scoring_date")
    listed = store.read(outputs.OUTREACH).where(F.col("scoring_date") == F.lit(scoring_date)).count()
    seconds = time.perf_counter() - started
    result = {
        "scoring_date": scoring_date.isoformat(),
        "rows_scored": sum(tiers.values()),
        "tier_counts": tiers,
        "outreach_members": listed,
        "model_version": ",".join(versions),
        "seconds": round(seconds, 1),
    }
    print_summary(result, f"{store.namespace}.{outputs.OUTREACH}")
    return {"outreach_members": listed, "rows_scored": result["rows_scored"]}


def print_summary(result: dict[str, Any], table_name: str) -> None:
    table = Table(title=f"Scoring on {result['scoring_date']}", show_header=True)
    table.add_column("tier")
    table.add_column("members", justify="right")
    for tier, count in result["tier_counts"].items():
        table.add_row(tier, f"{count:,}")
    table.add_row("[bold]all scored[/bold]", f"[bold]{result['rows_scored']:,}[/bold]")
    console = Console()
    console.print(table)
    console.print(
        f"model version {result['model_version']}; {result['outreach_members']:,} members on the outreach "
        f"list ({table_name}); outreach step {result['seconds']:.0f}s"
    )
