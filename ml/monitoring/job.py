"""The `monitor` task: on a monitoring date, how the champion's inputs and outputs over the
last `monitoring.window_days` scoring dates compare with what it was judged on, how it did
where the landmark label is now censoring-safe, what its scores say of performance before
the labels arrive, and whether a retrain would pay.

Rows of `model_monitoring` (one partition per monitoring date, replaced on a rerun), by
`check` and `slice`, each with the rows it rests on, its threshold and its estimated false-
alarm rate at those rows (`false_alarm`: the chance it would cross with nothing changed).
A check is judged only where that rate is at most `monitoring.max_false_alarm`; below
that volume it is reported, not judged:
- score_psi (landmark=<name>, and all with the reference reweighted to the window's
  landmark mix, which alone moves a pooled PSI): the window's scores against the
  champion's holdout [score_psi]
- feature_psi, missing_share_change (feature=<name>, and feature=<name>,landmark=<name>):
  a top feature, or one of `population_features`, against the champion's newest snapshots
  [feature_psi, missing_share_change]
- volume_share (all): rows scored on the day / mean of the previous 28 scoring dates [below min_volume_share]
- tier_rows (tier=<name>): rows scored in the tier over the window
- expected_auroc, expected_ppv (all, landmark=): confidence-based estimates from the
  window's scores, assuming they are calibrated (ml/monitoring/expected.py)
- realised_auroc, realised_calibration, realised_ppv, realised_sensitivity (all, landmark=,
  cohort_month=): earlier predictions whose landmark label is now censoring-safe (the same
  label and rule training uses) [realised AUROC of all: its interval's upper bound below
  min_realised_auroc]
- new_labels, days_since_training, retrain (decision): whether a crossed threshold starts
  the training job, and why or why not, in `detail` (ml/monitoring/retraining.py)

Only aggregates are written or printed: no member row leaves the data layer.
"""

from __future__ import annotations

import json
import math
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
from scipy.stats import norm, poisson
from sklearn.metrics import roc_auc_score

from ml.config.loader import Settings
from ml.data import outputs
from ml.data.store import table_store
from ml.errors import DataError
from ml.features.training_set import Periods, labelled_episodes, labelled_landmarks
from ml.inference.scoring import due_rows
from ml.monitoring import retraining
from ml.monitoring.drift import mixed, psi, psi_false_alarm, quantile_edges, share_change_false_alarm, shares
from ml.monitoring.expected import expected_auroc, expected_ppv
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
        T.StructField("false_alarm", T.DoubleType(), True),
        T.StructField("detail", T.StringType(), True),
    ]
)
VOLUME_DAYS = 28
DRIFT_CHECKS = ("score_psi", "feature_psi", "missing_share_change", "volume_share", "realised_auroc")


@dataclass
class Check:
    check: str
    slice: str
    value: float | None
    rows: int
    threshold: float | None = None
    crossed: bool = False
    false_alarm: float | None = None
    detail: str = ""


def _judged(
    check: str, slice_: str, value: float | None, rows: int, threshold: float, false_alarm: float, limit: float
) -> Check:
    """Judged against `threshold` where its false-alarm rate is at most `limit`; else reported."""
    if value is None or not math.isfinite(value) or false_alarm > limit:
        return Check(check, slice_, value, rows, false_alarm=false_alarm)
    crossed = value < threshold if check == "volume_share" else value > threshold
    return Check(check, slice_, value, rows, threshold, crossed, false_alarm)


def _champion(name: str, folder: Path) -> tuple[Any, dict[str, str], Path, dict[str, float]]:
    """The champion's version, its training run's params, report and metrics."""
    champion = registry.by_alias(name, registry.CHAMPION)
    if champion is None:
        raise DataError(f"model {name} has no champion: nothing to monitor (run the training job first)")
    report = mlflow.artifacts.download_artifacts(run_id=champion.run_id, artifact_path="report", dst_path=str(folder))
    run = mlflow.get_run(champion.run_id)
    return champion, dict(run.data.params), Path(report), dict(run.data.metrics)


def _nonempty(*share_lists: list[float]) -> int:
    return max(2, sum(1 for values in zip(*share_lists, strict=True) if any(v > 0 for v in values)))


def score_checks(window: pd.DataFrame, reference: dict, settings: Settings) -> list[Check]:
    """PSI of the window's scores per landmark and, for everyone, against the reference
    reweighted to the window's landmark mix."""
    config = settings.project.monitoring
    edges = reference["edges"]
    scores = window["risk_score"].to_numpy(dtype=float)
    checks = []
    by_landmark = reference.get("landmarks", {})
    if by_landmark:
        for landmark, part in window.groupby("landmark", sort=True):
            ref = by_landmark.get(str(landmark))
            if ref is None:
                continue
            now = shares(part["risk_score"].to_numpy(dtype=float), edges)
            value = psi(ref["shares"], now)
            alarm = psi_false_alarm(config.score_psi, _nonempty(ref["shares"], now), len(part), ref["rows"])
            checks.append(
                _judged(
                    "score_psi",
                    f"landmark={landmark}",
                    value,
                    len(part),
                    config.score_psi,
                    alarm,
                    config.max_false_alarm,
                )
            )
    mix = window["landmark"].value_counts(normalize=True).to_dict()
    expected = mixed(reference, mix) if by_landmark else reference["shares"]
    now = shares(scores, edges)
    alarm = psi_false_alarm(config.score_psi, _nonempty(expected, now), len(window), reference["rows"])
    checks.append(
        _judged("score_psi", "all", psi(expected, now), len(window), config.score_psi, alarm, config.max_false_alarm)
    )
    return checks


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
    """Per feature: PSI and the change of its missing share, for everyone (the reference
    reweighted to the current landmark mix when both carry `landmark`) and per landmark."""
    config = settings.project.monitoring
    limit = config.max_false_alarm
    by_landmark = "landmark" in reference.columns and "landmark" in current.columns
    checks = []
    for name in names:
        before = reference[name].to_numpy(dtype=float)
        edges = quantile_edges(before, config.bins)
        parts = [("", reference, current)]
        if by_landmark:
            parts += [
                (f",landmark={lm}", reference[reference["landmark"] == lm], current[current["landmark"] == lm])
                for lm in sorted(set(current["landmark"]))
            ]
        for suffix, ref, now in parts:
            rows = len(now)
            if not rows or not len(ref):
                continue
            ref_values, now_values = ref[name].to_numpy(dtype=float), now[name].to_numpy(dtype=float)
            expected = shares(ref_values, edges)
            if by_landmark and not suffix:  # everyone: the reference at the current landmark mix
                mix = now["landmark"].value_counts(normalize=True)
                expected = list(
                    sum(
                        w * np.asarray(shares(ref.loc[ref["landmark"] == lm, name].to_numpy(dtype=float), edges))
                        for lm, w in mix.items()
                        if (ref["landmark"] == lm).any()
                    )
                    / max(sum(w for lm, w in mix.items() if (ref["landmark"] == lm).any()), 1e-12)
                )
            actual = shares(now_values, edges)
            drift = psi(expected, actual)
            alarm = psi_false_alarm(config.feature_psi, _nonempty(expected, actual), rows, len(ref))
            missing_before = float(np.isnan(ref_values).mean())
            change = float(np.isnan(now_values).mean()) - missing_before
            change_alarm = share_change_false_alarm(config.missing_share_change, missing_before, rows, len(ref))
            slice_ = f"feature={name}{suffix}"
            checks.append(_judged("feature_psi", slice_, drift, rows, config.feature_psi, alarm, limit))
            moved = _judged(
                "missing_share_change", slice_, abs(change), rows, config.missing_share_change, change_alarm, limit
            )
            moved.value = change  # the signed change is reported; its size is judged
            checks.append(moved)
    return checks


def _auroc_se(auroc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's standard error of an AUROC."""
    q1, q2 = auroc / (2 - auroc), 2 * auroc**2 / (1 + auroc)
    variance = (auroc * (1 - auroc) + (positives - 1) * (q1 - auroc**2) + (negatives - 1) * (q2 - auroc**2)) / max(
        positives * negatives, 1
    )
    return math.sqrt(max(variance, 1e-12))


def realised_checks(known: pd.DataFrame, settings: Settings, expected: float | None = None) -> list[Check]:
    """AUROC, calibration (mean predicted minus observed), PPV and sensitivity of who was in
    the outreach tiers, overall, per landmark and per cohort month (month of the scoring
    date), on the landmark label. The overall AUROC is judged: crossed when its interval's
    upper bound falls below `min_realised_auroc`; its false-alarm rate is that chance for a
    model as good as on its holdout (`expected`, the champion's holdout AUROC)."""
    config = settings.project.monitoring
    outreach_tiers = settings.project.inference.outreach.tiers
    checks = []
    slices = [("all", known)]
    slices += [(f"landmark={k}", part) for k, part in known.groupby("landmark", sort=True)]
    slices += [(f"cohort_month={k}", part) for k, part in known.groupby("cohort_month", sort=True)]
    z = norm.ppf(0.975)
    for name, part in slices:
        labels, scores = part["label"].to_numpy(dtype=float), part["risk_score"].to_numpy(dtype=float)
        rows = len(part)
        positives = int(labels.sum())
        both = 0 < positives < rows
        auroc = float(roc_auc_score(labels, scores)) if both else None
        if name == "all" and auroc is not None:
            se = _auroc_se(auroc, positives, rows - positives)
            floor = config.min_realised_auroc
            truth = expected if expected is not None else auroc
            alarm = float(norm.cdf((floor - z * se - truth) / _auroc_se(truth, positives, rows - positives)))
            check = _judged("realised_auroc", name, auroc, rows, floor, alarm, config.max_false_alarm)
            check.crossed = check.threshold is not None and auroc + z * se < floor
            check.detail = f"interval [{auroc - z * se:.3f}, {auroc + z * se:.3f}]"
            checks.append(check)
        else:
            checks.append(Check("realised_auroc", name, auroc, rows))
        flagged = part["risk_tier"].isin(outreach_tiers).to_numpy()
        checks += [
            Check("realised_calibration", name, float(scores.mean() - labels.mean()) if rows else None, rows),
            Check("realised_ppv", name, float(labels[flagged].mean()) if flagged.any() else None, rows),
            Check("realised_sensitivity", name, float(flagged[labels == 1].mean()) if labels.any() else None, rows),
        ]
    return checks


def expected_checks(window: pd.DataFrame, settings: Settings) -> list[Check]:
    """Confidence-based estimates before the labels: expected AUROC and PPV of the outreach
    tiers, assuming the scores are calibrated on the population scored."""
    flagged = window["risk_tier"].isin(settings.project.inference.outreach.tiers).to_numpy()
    assumption = "assumes the scores are calibrated on the population scored"
    checks = []
    for name, mask in [("all", np.ones(len(window), dtype=bool))] + [
        (f"landmark={lm}", (window["landmark"] == lm).to_numpy()) for lm in sorted(set(window["landmark"]))
    ]:
        scores = window["risk_score"].to_numpy(dtype=float)[mask]
        checks.append(Check("expected_auroc", name, expected_auroc(scores), int(mask.sum()), detail=assumption))
        checks.append(
            Check(
                "expected_ppv", name, expected_ppv(scores, flagged[mask]), int(flagged[mask].sum()), detail=assumption
            )
        )
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
    champion, params, report, metrics = _champion(settings.model_name, folder)
    version = str(champion.version)

    first = scoring_date - timedelta(days=config.window_days - 1)
    window_rows = predictions.where(F.col("scoring_date").between(F.lit(first), F.lit(scoring_date)))
    window = window_rows.select(
        "member_id", "feature_as_of", "landmark", "risk_score", "risk_tier", "scoring_date"
    ).toPandas()
    day_rows = int((window["scoring_date"] == scoring_date).sum())
    if day_rows == 0:
        raise DataError(f"{store.namespace}.{outputs.PREDICTIONS} has no row for {scoring_date}: {fix}")
    checks: list[Check] = []
    reference_file = report / SCORE_REFERENCE
    if reference_file.exists():
        checks += score_checks(window, json.loads(reference_file.read_text()), settings)
    else:  # a champion trained before the reference was kept
        checks.append(Check("score_psi", "all", None, len(window)))

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
        mean = float(previous["count"].mean())
        alarm = float(poisson.cdf(math.ceil(config.min_volume_share * mean) - 1, mean))
        checks.append(
            _judged(
                "volume_share", "all", day_rows / mean, day_rows, config.min_volume_share, alarm, config.max_false_alarm
            )
        )
    for tier in settings.project.inference.tiers:
        checks.append(
            Check("tier_rows", f"tier={tier.name}", float((window["risk_tier"] == tier.name).sum()), len(window))
        )
    checks += expected_checks(window, settings)

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
        # the reference: the snapshots of the pregnancies scoring would have scored over the
        # champion's newest `reference_days` (the same population as the window's, at their landmarks)
        due = due_rows(
            sources.require("episodes"),
            settings.project.landmarks,
            settings.project.inference,
            newest,
            start=newest - timedelta(days=config.reference_days),
        ).select("member_id", F.col("landmark_date").alias("as_of"), "landmark")
        reference = features.select("member_id", "as_of", *names).join(due, ["member_id", "as_of"]).toPandas()
        current = (
            window_rows.select("member_id", F.col("feature_as_of").alias("as_of"), "landmark")
            .join(features.select("member_id", "as_of", *names), ["member_id", "as_of"])
            .toPandas()
        )
        checks += feature_checks(reference, current, names, settings)

    known = (
        predictions.where(F.col("scoring_date") < F.lit(scoring_date))
        .join(
            labelled_landmarks(settings, sources, scoring_date).select("episode_id", "landmark", "label"),
            ["episode_id", "landmark"],
        )
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
        checks += realised_checks(known, settings, metrics.get("test_auroc"))

    decision = _retrain_decision(settings, store, sources, checks, champion, scoring_date)
    checks += [
        Check("new_labels", "all", float(decision.new_labels), decision.new_labels),
        Check(
            "days_since_training",
            "all",
            None if decision.days_since_training is None else float(decision.days_since_training),
            0,
        ),
        Check("retrain", "decision", 1.0 if decision.start else 0.0, len(window), detail=decision.detail),
    ]

    def number(value: float | None) -> float | None:  # numpy scalars are not Spark doubles
        return None if value is None or not math.isfinite(value) else float(value)

    rows = [
        (
            scoring_date,
            version,
            c.check,
            c.slice,
            number(c.value),
            number(c.threshold),
            bool(c.crossed),
            int(c.rows),
            number(c.false_alarm),
            c.detail or None,
        )
        for c in checks
    ]
    frame = spark.createDataFrame(rows, SCHEMA)
    store.replace_partitions(frame, outputs.MONITORING, "monitoring_date", values=[scoring_date])
    crossed = [c for c in checks if c.crossed]
    seconds = time.perf_counter() - started
    print(
        f"[monitor] {scoring_date}: champion v{version}, {len(window):,} predictions over {config.window_days} days "
        f"({day_rows:,} on the day), {len(checks)} checks written to {store.namespace}.{outputs.MONITORING} in "
        f"{seconds:.0f}s; {decision.detail}",
        flush=True,
    )
    return {"retrain": "true" if decision.start else "false", "crossed": len(crossed), "checks": len(checks)}


def _retrain_decision(settings: Settings, store, sources, checks: list[Check], champion, day: date):
    """Crossed thresholds, acknowledgements, new labels since the champion's as-of date and
    days since the newest training run: ml/monitoring/retraining.py decides."""
    tags = champion.tags or {}
    trained_as_of = date.fromisoformat(tags["as_of"]) if tags.get("as_of") else None
    new_labels = 0
    if trained_as_of is not None:
        then, now = Periods.of(settings, trained_as_of), Periods.of(settings, day)
        new_labels = (
            labelled_episodes(sources, now)
            .where(F.col("expected_delivery_date") >= F.lit(then.safe_until))
            .select("episode_id")
            .distinct()
            .count()
        )
    newest_training = max(
        (
            date.fromisoformat(v.tags["as_of"])
            for v in registry.versions(settings.model_name)
            if (v.tags or {}).get("as_of")
        ),
        default=None,
    )
    days = (day - newest_training).days if newest_training else None
    crossed = [(c.check, c.slice) for c in checks if c.crossed]
    held = retraining.acknowledgements(store, str(champion.version))
    return retraining.decide(crossed, held, new_labels, days, settings.project.monitoring.retrain, day)
