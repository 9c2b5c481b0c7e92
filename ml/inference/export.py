"""The outreach list of one scoring date as a CSV file for care managers (`hrob outreach
export`): the ranked members first, then those listed apart as already known, in one rank
sequence. The file
holds member rows: it is written where the plan keeps member data (HROB_HOME/exports/ by
default), and nothing of its content is printed or logged."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from pyspark.sql import functions as F

from ml.config.loader import Settings
from ml.data import outputs
from ml.data.store import table_store
from ml.errors import DataError
from ml.inference.outreach import ALREADY_KNOWN, RANKED
from ml.runtime.paths import local_dir
from ml.runtime.spark import get_spark

LEADING = [
    "outreach_rank",
    "section",
    "reason",
    "listing",
    "member_id",
    "episode_id",
    "gestational_age",
    "landmark",
    "landmark_date",
    "days_since_landmark",
    "expected_delivery_date",
    "risk_score",
    "risk_tier",
    "known_evidence",
]


def default_path(settings: Settings, scoring_date: date) -> Path:
    return local_dir("exports") / f"outreach_{settings.env}_{scoring_date.isoformat()}.csv"


def _scored(store, scoring_date: date) -> bool:
    if not store.exists(outputs.PREDICTIONS):
        return False
    predictions = store.read(outputs.PREDICTIONS)
    return bool(predictions.where(F.col("scoring_date") == F.lit(scoring_date)).limit(1).count())


def what_the_list_finds(settings: Settings, model_version: str | None) -> str | None:
    """The list's reach in plain words, from the model's own holdout (its training run's
    test part, landmark by landmark at capacity), or None when the run says nothing."""
    import mlflow

    from ml.registry import client as registry
    from ml.runtime.tracking import configure_mlflow

    configure_mlflow()
    found = registry.version(settings.model_name, model_version) if model_version else None
    if found is None:
        return None
    metrics = mlflow.get_run(found.run_id).data.metrics
    flagged = positives = hits = 0.0
    for landmark in settings.project.landmarks:
        prefix = f"test_{landmark.name}_"
        if f"{prefix}ppv" not in metrics:
            continue
        flagged += metrics[f"{prefix}flagged"]
        positives += metrics[f"{prefix}positives"]
        hits += metrics[f"{prefix}ppv"] * metrics[f"{prefix}flagged"]
    if not flagged or not positives:
        return None
    capacity = settings.project.inference.capacity_share
    return (
        f"A list of the top {capacity:.0%} of pregnancies at each landmark reached {hits / positives:.0%} of the "
        f"pregnancies that went on to a high-risk outcome on model v{model_version}'s holdout "
        f"({round(hits):,} of {round(positives):,}), and {hits / flagged:.0%} of those listed had one "
        f"({round(hits):,} of {round(flagged):,}): most high-risk pregnancies are not on it, and it is a "
        "ranking for outreach, not a diagnosis."
    )


def _runs_here(env: str) -> str:
    """The command that writes the list of `env` (the local runner runs dev, staging and prod)."""
    return f"hrob run inference --env {env if env != 'local' else 'dev'}"


def export_outreach(settings: Settings, scoring_date: date, output: Path) -> dict[str, int | str]:
    store = table_store(get_spark("hrob-export"), settings.namespace)
    where = f"{store.namespace}.{outputs.OUTREACH}"
    if not store.exists(outputs.OUTREACH):
        hint = _runs_here(settings.env)
        also = " and export with --env dev" if settings.env == "local" else ""
        raise DataError(f"{where} does not exist: run the inference job ({hint}){also}")
    table = store.read(outputs.OUTREACH)
    rows = table.where(F.col("scoring_date") == F.lit(scoring_date))
    frame = rows.orderBy("outreach_rank").toPandas()
    if frame.empty and not _scored(store, scoring_date):
        newest = table.select("scoring_date").distinct().orderBy(F.desc("scoring_date")).limit(3).collect()
        known = f"newest dates: {', '.join(r[0].isoformat() for r in newest)}" if newest else "the table is empty"
        raise DataError(f"{where} has no list for {scoring_date}: nobody was scored that day ({known})")
    # scored, and nobody reached the outreach tiers: a list with its header and no row
    columns = [c for c in LEADING if c in frame.columns] + [c for c in frame.columns if c not in LEADING]
    frame = frame[columns]
    frame["risk_score"] = frame["risk_score"].round(4)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    frame.to_csv(partial, index=False, date_format="%Y-%m-%d")
    os.replace(partial, output)  # a reader never sees half a list
    versions = sorted(set(frame["model_version"].astype(str))) if "model_version" in frame.columns else []
    return {
        "path": str(output),
        "rows": len(frame),
        "ranked": int((frame["section"] == RANKED).sum()),
        "already_known": int((frame["section"] == ALREADY_KNOWN).sum()),
        "what_the_list_finds": what_the_list_finds(settings, versions[-1] if versions else None),
    }
