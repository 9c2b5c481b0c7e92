"""`hrob demo` / `make demo`: the whole flow on a synthetic cohort, through the runner
for the dev stack, then a summary on screen and in HROB_HOME/demo_summary.json.

A second run reuses the cohort and today's feature snapshot, trains a challenger
against the existing champion and shows that decision.
"""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from ml.cli.common import terminal_width
from ml.config.loader import Settings, load_settings
from ml.data import outputs
from ml.runtime.paths import local_dir

ENV = "dev"
console = Console(highlight=False, width=terminal_width(1))  # not cut off a terminal


def _step(title: str) -> None:
    console.rule(f"[bold]{title}")


def _cohort(settings: Settings, members: int | None) -> tuple[float, date | None]:
    """Generate the cohort unless it exists; returns the seconds taken and the newest
    feature snapshot date already written (None: no feature table yet)."""
    from ml.data.store import table_store
    from ml.runtime.spark import get_spark
    from ml.synth.generate import cohort_spec, generate

    started = time.perf_counter()
    spark = get_spark("hrob-demo")
    store = table_store(spark, settings.environment.source_schema)
    if store.exists("episodes") and members is None:
        console.print(
            f"cohort already in {store.namespace}: reused (hrob data generate --env {ENV} --overwrite makes a new one)"
        )
    else:
        c = settings.project.cohort
        spec = cohort_spec(members=members or c.members, seed=c.seed, start=c.start, end=c.end)
        generate(spark, store, spec, overwrite=True, progress=lambda m: console.print(f"  {m}"))
    from ml.features.job import latest_as_of

    return time.perf_counter() - started, latest_as_of(settings)


def run_demo(members: int | None = None, today: date | None = None) -> dict[str, Any]:
    from functools import partial

    from ml.runner.session import run

    run_job = partial(run, in_process=True)  # one Spark for the cohort and every task

    today = today or date.today()
    settings = load_settings(ENV)
    seconds: dict[str, float] = {}

    _step("1/6 synthetic cohort")
    seconds["cohort"], latest = _cohort(settings, members)

    _step("2/6 feature job")
    feature_job: list = []
    if latest == today and members is None:
        console.print(f"features for {today} already written: skipped (hrob run features --env {ENV} reruns them)")
        seconds["features"] = 0.0
    else:
        params = {"as_of": today.isoformat()}
        if latest is None or members is not None:
            params["backfill_from"] = f"{settings.project.cohort.start}-01"
        seconds["features"] = _timed(lambda: feature_job.extend(run_job(ENV, "features", params=params)))

    _step("3/6 training job (train, validate, promote)")
    training: list = []
    as_of = {"as_of": today.isoformat()}
    seconds["training"] = _timed(lambda: training.extend(run_job(ENV, "training", params=as_of)))

    # the monitoring window's scoring dates, as daily runs would have scored them
    window = settings.project.monitoring.window_days
    _step(f"4/6 inference job (score, outreach): {today} and the {window - 1} days before, as daily runs would have")
    scoring = {"scoring_date": today.isoformat(), "backfill_from": (today - timedelta(days=window - 1)).isoformat()}
    seconds["inference"] = _timed(lambda: run_job(ENV, "inference", params=scoring))

    _step("5/6 monitoring job (drift, volume, realised performance; retraining past a threshold)")
    monitoring: list = []
    seconds["monitoring"] = _timed(
        lambda: monitoring.extend(run_job(ENV, "monitoring", params={"scoring_date": today.isoformat()}))
    )

    # The next morning: the daily feature and inference runs in steady state, with nothing
    # left from a backlog (the first day scores every landmark of the last week).
    tomorrow = today + timedelta(days=1)
    _step(f"6/6 the next morning, {tomorrow} (steady state: daily features and inference)")

    def the_next_morning() -> None:
        run_job(ENV, "features", params={"as_of": tomorrow.isoformat()})
        run_job(ENV, "inference", params={"scoring_date": tomorrow.isoformat()})

    seconds["next_day"] = _timed(the_next_morning)

    values = {r.key: r.values or {} for r in training}
    summary = summarise(settings, today, values, seconds)
    summary["next_day"] = next_day(settings, tomorrow)
    summary["monitoring"] = {r.key: r.status for r in monitoring}
    summary["feature_job"] = {k: v for r in feature_job for k, v in (r.values or {}).items()}  # empty: skipped
    summary["files"] = files_for_people(settings, today, summary["champion_version"])
    path = local_dir() / "demo_summary.json"
    path.write_text(json.dumps(summary, indent=1, default=str))
    show(summary, settings, path)
    return summary


def files_for_people(settings: Settings, today: date, champion: str | None) -> dict[str, str]:
    """The model card and the day's outreach list as CSV: what people open rather than query."""
    from ml.inference.export import default_path, export_outreach
    from ml.registry import model_card

    files = {}
    if champion:
        files["model_card"] = str(model_card.write(settings, model_card.default_path(settings, champion), champion)[0])
    files["outreach_csv"] = str(export_outreach(settings, today, default_path(settings, today))["path"])
    from ml.monitoring.report import write as monitoring_report

    report = monitoring_report(settings)
    files["monitoring_report"] = report["html"]
    files["monitoring_crossed"] = report["crossed"]
    files["monitoring_retrain"] = report["retrain"]
    return files


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return round(time.perf_counter() - started, 1)


def summarise(settings: Settings, today: date, values: dict[str, dict], seconds: dict[str, float]) -> dict[str, Any]:
    import mlflow
    from pyspark.sql import functions as F

    from ml.data import schema as S
    from ml.data.store import table_store
    from ml.inference.audit import list_truth
    from ml.inference.outreach import NEW, RANKED
    from ml.registry import client as registry
    from ml.runtime.spark import get_spark
    from ml.runtime.tracking import configure_mlflow

    store_ui = configure_mlflow()
    champion = registry.by_alias(settings.model_name, registry.CHAMPION)
    metrics = mlflow.get_run(champion.run_id).data.metrics if champion else {}
    landmarks = {}
    for landmark in settings.project.landmarks:
        prefix = f"test_{landmark.name}_"
        found = {k.removeprefix(prefix): round(v, 4) for k, v in metrics.items() if k.startswith(prefix)}
        if found:
            landmarks[landmark.name] = found

    spark = get_spark("hrob-demo")
    sources = table_store(spark, settings.environment.source_schema)
    store = table_store(spark, settings.namespace)
    predictions = store.read(outputs.PREDICTIONS).where(F.col("scoring_date") == F.lit(today))
    tiers = {r.risk_tier: r["count"] for r in predictions.groupBy("risk_tier").count().collect()}
    ordered = {t.name: tiers.get(t.name, 0) for t in settings.project.inference.tiers}
    by_landmark = {r.landmark: r["count"] for r in predictions.groupBy("landmark").count().collect()}
    outreach = store.read(outputs.OUTREACH).where(F.col("scoring_date") == F.lit(today))
    ranked = outreach.where(F.col("section") == RANKED).cache()
    ranked_count = ranked.count()
    new = ranked.where(F.col("listing") == NEW)
    synthetic = sources.exists(S.ORACLE.name)
    truth = list_truth(sources, ranked) if synthetic else {}
    # the monitoring window's lists together: what a month of daily lists held
    window = settings.project.monitoring.window_days
    first = today - timedelta(days=window - 1)
    lists = store.read(outputs.OUTREACH).where(F.col("scoring_date").between(F.lit(first), F.lit(today)))
    window_truth = list_truth(sources, lists.where(F.col("section") == RANKED)) if synthetic else {}
    head = [
        r.asDict()
        for r in ranked.orderBy("outreach_rank")
        .select(
            "outreach_rank",
            "member_id",
            "episode_id",
            "landmark",
            "gestational_age",
            "days_since_landmark",
            "risk_score",
            "risk_tier",
            "listing",
            "top_factor_1",
            "top_factor_2",
            "top_factor_3",
        )
        .limit(5)
        .collect()
    ]
    ranked.unpersist()
    return {
        "scoring_date": today.isoformat(),
        "model_name": settings.model_name,
        "champion_version": str(champion.version) if champion else None,
        "challenger_version": values.get("train", {}).get("model_version"),
        "promotion_decision": values.get("validate", {}).get("decision"),
        "promoted": values.get("promote", {}).get("promoted") == "true",
        "test_auroc": round(metrics.get("test_auroc", float("nan")), 4),
        "test_auprc": round(metrics.get("test_auprc", float("nan")), 4),
        "landmarks": landmarks,
        "rows_scored": sum(ordered.values()),
        "scored_by_landmark": {lm.name: by_landmark.get(lm.name, 0) for lm in settings.project.landmarks},
        "tier_counts": ordered,
        "outreach_members": ranked_count,
        "outreach_new": new.count(),
        "outreach_already_known": outreach.where(F.col("section") != RANKED).count(),
        "outreach_list": truth,
        "outreach_window": window_truth,
        "outreach_head": head,
        "tables": {name: store.location(name) for name in (outputs.FEATURES, outputs.PREDICTIONS, outputs.OUTREACH)},
        "mlflow_ui": store_ui.ui_command(),
        "seconds": seconds | {"total": round(sum(seconds.values()), 1)},
    }


def next_day(settings: Settings, day: date) -> dict[str, Any]:
    """The steady-state day's ranked list: how many were scored and listed, and its truth."""
    from pyspark.sql import functions as F

    from ml.data import schema as S
    from ml.data.store import table_store
    from ml.inference.audit import list_truth
    from ml.inference.outreach import RANKED
    from ml.runtime.spark import get_spark

    spark = get_spark("hrob-demo")
    sources = table_store(spark, settings.environment.source_schema)
    store = table_store(spark, settings.namespace)
    scored = store.read(outputs.PREDICTIONS).where(F.col("scoring_date") == F.lit(day)).count()
    outreach = store.read(outputs.OUTREACH).where(F.col("scoring_date") == F.lit(day))
    ranked = outreach.where(F.col("section") == RANKED)
    truth = list_truth(sources, ranked) if sources.exists(S.ORACLE.name) else {}
    return {"scoring_date": day.isoformat(), "rows_scored": scored, "outreach_list": truth}


def _truth_line(truth: dict[str, Any]) -> str:
    return (
        f"{truth['share_already_carrying']:.1%} already carried a component of the label (coded chronic "
        f"hypertension {truth['share_coded_chronic_hypertension']:.1%}, hypertension of pregnancy "
        f"{truth['share_coded_hypertension_of_pregnancy']:.1%}, received or in transit; pregnancy already ended "
        f"{truth['share_already_ended']:.1%}); {truth['past_expected_delivery']} past the expected delivery; days "
        f"since the landmark: median {truth['median_days_since_landmark']:.0f}, most "
        f"{truth['max_days_since_landmark']}; gestational week today: median {truth['median_gestational_week_today']}"
    )


def show(summary: dict[str, Any], settings: Settings, path) -> None:
    _step("summary")
    title = "Champion on its holdout (the newest censoring-safe months), by landmark"
    models = Table(title=title, title_justify="left")
    for column in ("", "AUROC", "AUPRC", "calibration slope", "PPV at outreach", "sensitivity", "rows"):
        models.add_column(column, justify="right" if column else "left")
    models.add_row(
        f"champion v{summary['champion_version']}, all",
        f"{summary['test_auroc']:.3f}",
        f"{summary['test_auprc']:.3f}",
        "",
        "",
        "",
        "",
    )
    for landmark, m in summary["landmarks"].items():
        models.add_row(
            landmark,
            *(f"{m[k]:.3f}" if k in m else "-" for k in ("auroc", "auprc", "calibration_slope", "ppv", "sensitivity")),
            f"{m.get('rows', 0):,.0f}",
        )
    console.print(models)
    console.print(f"challenger v{summary['challenger_version']}: {summary['promotion_decision']}", markup=False)
    tiers = ", ".join(f"{k} {v:,}" for k, v in summary["tier_counts"].items())
    reached = ", ".join(f"{k} {v:,}" for k, v in summary["scored_by_landmark"].items())
    console.print(
        f"scored {summary['rows_scored']:,} pregnancies that reached a landmark in the last "
        f"{settings.project.inference.max_landmark_age_days} days, on {summary['scoring_date']} ({reached}; {tiers}); "
        f"{summary['outreach_members']:,} on the outreach list ({summary['outreach_new']:,} new), "
        f"{summary['outreach_already_known']:,} listed apart as already known",
        markup=False,
    )
    truth = summary["outreach_list"]
    if truth.get("rows"):
        console.print(
            f"the day's ranked list, checked against the generator's truth: {_truth_line(truth)}", markup=False
        )
    month = summary["outreach_window"]
    if month.get("rows"):
        console.print(
            f"the {month['dates']} daily ranked lists to {summary['scoring_date']} ({month['rows']:,} rows), "
            f"checked the same way: {_truth_line(month)}",
            markup=False,
        )
    later = summary["next_day"]
    console.print(
        f"the next morning ({later['scoring_date']}, steady state): {later['rows_scored']:,} pregnancies scored, "
        f"{later['outreach_list'].get('rows', 0):,} ranked"
        + (f"; {_truth_line(later['outreach_list'])}" if later["outreach_list"].get("rows") else ""),
        markup=False,
    )
    head = Table(title="Outreach list (first rows, synthetic members)", title_justify="left")
    for column in ("rank", "member", "today", "landmark", "risk", "listing", "top factors"):
        head.add_column(column)
    for row in summary["outreach_head"]:
        head.add_row(
            str(row["outreach_rank"]),
            str(row["member_id"]),
            row["gestational_age"],
            f"{row['landmark'].replace('_', ' ')}, {row['days_since_landmark']} d ago",
            f"{row['risk_score']:.3f}",
            row["listing"],
            "; ".join(row[f"top_factor_{i}"] or "" for i in (1, 2, 3)),
        )
    console.print(head)
    for name, location in summary["tables"].items():
        console.print(f"table {name}: {location}", markup=False)
    timing = ", ".join(f"{k} {v:.0f}s" for k, v in summary["seconds"].items())
    console.print(f"time: {timing}", markup=False, soft_wrap=True)
    console.print(f"MLflow UI: {summary['mlflow_ui']}", markup=False, soft_wrap=True)
    console.print(
        f"model card (open in a browser): {summary['files'].get('model_card', '-')}", markup=False, soft_wrap=True
    )
    console.print(f"outreach list as CSV: {summary['files']['outreach_csv']}", markup=False, soft_wrap=True)
    files = summary["files"]
    crossed = files.get("monitoring_crossed", 0)
    verdict = f"{crossed} threshold(s) crossed" if crossed else "no threshold crossed"
    why = files.get("monitoring_retrain") or "-"
    console.print(
        f"monitoring: {verdict}; {why}; report: {files['monitoring_report']}",
        markup=False,
        soft_wrap=True,
    )
    console.print(f"summary written to {path}", markup=False, soft_wrap=True)
