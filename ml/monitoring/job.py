"""The `monitor` task: for one scoring date, how the champion's inputs and outputs compare
with what it was trained on, and how it did where outcomes have since been recorded.

Rows of `model_monitoring` (one partition per monitoring date, replaced on a rerun), by
`check` and `slice`; the threshold in configs/project.yml `monitoring` whose crossing sets
`retrain` in brackets:
- score_psi (all): the day's scores against the champion's test split [score_psi]
- feature_psi (feature=<name>): a top feature, or one of `population_features`, against the
  champion's newest snapshots [feature_psi]
- missing_share_change (feature=<name>): today's missing share minus the reference's [missing_share_change]
- volume_share (all): rows scored today / mean of the previous 28 scoring dates [below min_volume_share]
- tier_rows (tier=<name>): rows scored in the tier
- realised_auroc, realised_calibration, realised_ppv, realised_sensitivity (all, landmark=,
  cohort_month=): earlier predictions whose outcome is now recorded [realised AUROC of all
  below min_realised_auroc, from min_realised_episodes on]

Only aggregates are written or printed: no member row leaves the data layer. The realised
label is the recorded outcome (`model.label`), counted whether or not a component was
already diagnosed when the prediction was made: an upper bound of the model's own label.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql import types as T
from sklearn.metrics import roc_auc_score

from ml.config.loader import Settings
from ml.data import outputs
from ml.data.store import table_store
from ml.errors import DataError
from ml.monitoring.drift import psi, quantile_edges, shares
from ml.registry import client as registry
from ml.runtime.spark import get_spark
from ml.runtime.tracking import configure_mlflow
from ml.training.report import SCORE_REFERENCE

SCHEMA = T.StructType(
    [
        T.StructField("monitoring_date", T.DateType(), False),
        T.StructField("model_version", T.StringType(), False),
        T.StructField("check", T.StringType(), False),
        T.StructField("slice", T.StringType(), False),
        T.StructField("value", T.DoubleType(), True),
        T.StructField("threshold", T.DoubleType(), True),
        T.StructField("crossed", T.BooleanType(), False),
        T.StructField("rows", T.LongType(), False),
    ]
)
VOLUME_DAYS = 28


@dataclass
class Check:
    check: str
    slice: str
    value: float | None
    rows: int
    threshold: float | None = None
    crossed: bool = False


def _above(check: str, slice_: str, value: float | None, rows: int, threshold: float, min_rows: int) -> Check:
    """Judged against `threshold` from `min_rows` rows on; reported without a verdict below."""
    if rows < min_rows:
        return Check(check, slice_, value, rows)
    return Check(check, slice_, value, rows, threshold, value is not None and value > threshold)


def _champion_report(name: str, folder: Path) -> tuple[str, dict[str, str], Path]:
    """The champion's version, its training run's params and its report, downloaded into `folder`."""
    champion = registry.by_alias(name, registry.CHAMPION)
    if champion is None:
        raise DataError(f"model {name} has no champion: nothing to monitor (run the training job first)")
    report = mlflow.artifacts.download_artifacts(run_id=champion.run_id, artifact_path="report", dst_path=str(folder))
    return str(champion.version), dict(mlflow.get_run(champion.run_id).data.params), Path(report)


def score_checks(day: pd.DataFrame, report: Path, threshold: float, min_rows: int) -> list[Check]:
    reference_file = report / SCORE_REFERENCE
    if not reference_file.exists():  # a champion trained before the reference was kept
        return [Check("score_psi", "all", None, len(day))]
    reference = json.loads(reference_file.read_text())
    actual = shares(day["risk_score"].to_numpy(dtype=float), reference["edges"])
    return [_above("score_psi", "all", psi(reference["shares"], actual), len(day), threshold, min_rows)]


def top_features(report: Path, count: int, available: list[str]) -> list[str]:
    """The champion's most important features by gain (an indicator counts for its feature)."""
    importance = pd.read_csv(report / "feature_importance.csv")
    names = []
    for column in importance["feature"]:
        name = column.removesuffix("__missing")
        if name in available and name not in names:
            names.append(name)
        if len(names) == count:
            break
    return names


def feature_checks(reference: pd.DataFrame, current: pd.DataFrame, names: list[str], settings: Settings) -> list[Check]:
    config = settings.project.monitoring
    rows = len(current)
    judged = rows >= config.min_rows and len(reference) > 0
    checks = []
    for name in names:
        before = reference[name].to_numpy(dtype=float)
        now = current[name].to_numpy(dtype=float)
        edges = quantile_edges(before, config.bins)
        drift = psi(shares(before, edges), shares(now, edges)) if rows and len(before) else None
        change = float(np.isnan(now).mean() - np.isnan(before).mean()) if rows and len(before) else None
        checks += [
            Check(
                "feature_psi",
                f"feature={name}",
                drift,
                rows,
                config.feature_psi if judged else None,
                judged and drift is not None and drift > config.feature_psi,
            ),
            Check(
                "missing_share_change",
                f"feature={name}",
                change,
                rows,
                config.missing_share_change if judged else None,
                judged and change is not None and abs(change) > config.missing_share_change,
            ),
        ]
    return checks


def realised_checks(known: pd.DataFrame, settings: Settings) -> list[Check]:
    """AUROC, calibration (mean predicted minus observed), PPV and sensitivity of who was in
    the outreach tiers, overall, per landmark and per cohort month (month of the scoring date)."""
    config = settings.project.monitoring
    outreach_tiers = settings.project.inference.outreach.tiers
    checks = []
    slices = [("all", known)]
    slices += [(f"landmark={k}", part) for k, part in known.groupby("landmark", sort=True)]
    slices += [(f"cohort_month={k}", part) for k, part in known.groupby("cohort_month", sort=True)]
    for name, part in slices:
        labels, scores = part["label"].to_numpy(dtype=float), part["risk_score"].to_numpy(dtype=float)
        rows = len(part)
        both = 0 < labels.sum() < rows
        auroc = float(roc_auc_score(labels, scores)) if both else None
        if name == "all" and rows >= config.min_realised_episodes:
            crossed = auroc is not None and auroc < config.min_realised_auroc
            checks.append(Check("realised_auroc", name, auroc, rows, config.min_realised_auroc, crossed))
        else:
            checks.append(Check("realised_auroc", name, auroc, rows))
        flagged = part["risk_tier"].isin(outreach_tiers).to_numpy()
        checks += [
            Check("realised_calibration", name, float(scores.mean() - labels.mean()) if rows else None, rows),
            Check("realised_ppv", name, float(labels[flagged].mean()) if flagged.any() else None, rows),
            Check("realised_sensitivity", name, float(flagged[labels == 1].mean()) if labels.any() else None, rows),
        ]
    return checks


def run(settings: Settings, scoring_date: date) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hrob-monitor-") as folder:
        return _run(settings, scoring_date, Path(folder))


def _run(settings: Settings, scoring_date: date, folder: Path) -> dict[str, Any]:
    started = time.perf_counter()
    config = settings.project.monitoring
    spark = get_spark("hrob-monitor")
    configure_mlflow()
    store = table_store(spark, settings.namespace)
    sources = table_store(spark, settings.environment.source_schema)
    fix = f"run the inference job (hrob run inference --env {settings.env})"
    predictions = store.require(outputs.PREDICTIONS, fix=fix)
    version, params, report = _champion_report(settings.model_name, folder)

    day = predictions.where(F.col("scoring_date") == F.lit(scoring_date))
    day_rows = day.select("member_id", "feature_as_of", "risk_score", "risk_tier").toPandas()
    if day_rows.empty:
        raise DataError(f"{store.namespace}.{outputs.PREDICTIONS} has no row for {scoring_date}: {fix}")
    checks = score_checks(day_rows, report, config.score_psi, config.min_rows)

    previous = (
        predictions.where(
            (F.col("scoring_date") < F.lit(scoring_date))
            & (F.col("scoring_date") >= F.lit(scoring_date - timedelta(days=VOLUME_DAYS)))
        )
        .groupBy("scoring_date")
        .count()
        .toPandas()
    )
    if not previous.empty:
        share = len(day_rows) / previous["count"].mean()
        checks.append(
            Check("volume_share", "all", share, len(day_rows), config.min_volume_share, share < config.min_volume_share)
        )
    for tier in settings.project.inference.tiers:
        checks.append(
            Check("tier_rows", f"tier={tier.name}", float((day_rows["risk_tier"] == tier.name).sum()), len(day_rows))
        )

    features = store.require(outputs.FEATURES, fix=f"run the feature job (hrob run features --env {settings.env})")
    names = top_features(report, config.top_features, features.columns)
    names += [name for name in config.population_features if name not in names]
    absent = [name for name in names if name not in features.columns]
    if absent:
        raise DataError(
            f"{store.namespace}.{outputs.FEATURES} lacks monitoring.population_features '{absent[0]}': "
            f"rerun the feature job (hrob run features --env {settings.env})"
        )
    newest = date.fromisoformat(params["feature_as_of"]) if params.get("feature_as_of", "none") != "none" else None
    if names and newest is not None:
        window = F.col("as_of").between(F.lit(newest - timedelta(days=config.reference_days)), F.lit(newest))
        reference = features.where(window).select(*names).toPandas()
        current = (
            day.select("member_id", F.col("feature_as_of").alias("as_of"))
            .join(features, ["member_id", "as_of"])
            .select(*names)
            .toPandas()
        )
        checks += feature_checks(reference, current, names, settings)

    label = settings.project.model.label
    outcomes = sources.require("outcomes").where(F.col("recorded_date") < F.lit(scoring_date))
    known = (
        predictions.where(F.col("scoring_date") < F.lit(scoring_date))
        .join(outcomes.select("episode_id", F.col(label).cast("double").alias("label")), "episode_id")
        .select(
            "landmark",
            "risk_score",
            "risk_tier",
            "label",
            F.date_format("scoring_date", "yyyy-MM").alias("cohort_month"),
        )
        .toPandas()
    )
    if not known.empty:
        checks += realised_checks(known, settings)

    def number(value: float | None) -> float | None:  # numpy scalars are not Spark doubles
        return None if value is None or np.isnan(value) else float(value)

    rows = [
        (scoring_date, version, c.check, c.slice, number(c.value), number(c.threshold), bool(c.crossed), int(c.rows))
        for c in checks
    ]
    frame = spark.createDataFrame(rows, SCHEMA)
    store.replace_partitions(frame, outputs.MONITORING, "monitoring_date", values=[scoring_date])
    crossed = [f"{c.check} ({c.slice}: {c.value:.3f} against {c.threshold})" for c in checks if c.crossed]
    seconds = time.perf_counter() - started
    print(
        f"[monitor] {scoring_date}: champion v{version}, {len(day_rows):,} predictions, {len(checks)} checks written "
        f"to {store.namespace}.{outputs.MONITORING} in {seconds:.0f}s; "
        + (f"thresholds crossed: {'; '.join(crossed)}: retraining" if crossed else "no threshold crossed"),
        flush=True,
    )
    return {"retrain": "true" if crossed else "false", "crossed": len(crossed), "checks": len(checks)}
