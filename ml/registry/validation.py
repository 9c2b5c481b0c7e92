"""The `validate` task: score the challenger and the champion on the same recent holdout,
decide, and record the decision on the challenger's model version (tags, description)
and as an artifact of a validation run."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from ml.config.loader import Settings
from ml.errors import DataError
from ml.evaluation.metrics import classification_metrics
from ml.evaluation.subgroups import subgroup_metrics
from ml.features.training_set import SUBGROUPS
from ml.inference.model import check_features, load_scorer, score
from ml.registry import client as registry
from ml.registry.decision import Decision, decide
from ml.registry.holdout import holdout
from ml.runtime.tracking import configure_mlflow

REPORT = "validation_report.json"


def _evaluate(frame, model_name: str, version: str, config) -> tuple[dict[str, float], pd.DataFrame]:
    scorer, _ = load_scorer(model_name, version=version)
    check_features(scorer, frame, "the validation holdout")
    scored = score(frame, scorer, ["label", "landmark", *SUBGROUPS]).toPandas()
    scored["label"] = scored["label"].astype("int64")
    scored = scored.rename(columns={"risk_score": "score"})
    metrics = classification_metrics(scored["label"].to_numpy(), scored["score"].to_numpy())
    metrics["episodes"] = float(len(scored))
    return metrics, subgroup_metrics(scored, list(config.subgroups), config.min_subgroup_episodes)


def run(settings: Settings, model_version: str, job_run_id: str = "", as_of: date | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    config = settings.project.validation
    name = settings.model_name
    configure_mlflow(settings.environment.experiment_path)
    if registry.version(name, model_version) is None:
        raise DataError(f"model {name} has no version {model_version} to validate")
    champion = registry.by_alias(name, registry.CHAMPION)
    champion_version = str(champion.version) if champion else None
    if champion_version == str(model_version):
        raise DataError(f"version {model_version} of {name} is already the champion")

    if config.mode == "disabled" and champion_version is not None:
        decision = Decision("disabled", str(model_version), champion_version)
    else:
        frame = holdout(settings, as_of or date.today()).cache()
        try:
            rows = frame.count()
            print(
                f"[validate] holdout: {rows:,} test-split episodes from the last {config.holdout_months} months",
                flush=True,
            )
            mine, my_groups = _evaluate(frame, name, str(model_version), config)
            theirs, their_groups = (None, None)
            if champion_version and config.mode != "disabled":
                theirs, their_groups = _evaluate(frame, name, champion_version, config)
        finally:
            frame.unpersist()
        decision = decide(
            config,
            settings.project.training.primary_metric,
            str(model_version),
            champion_version,
            mine,
            theirs,
            my_groups,
            their_groups,
        )
    record(settings, decision, job_run_id)
    print(
        f"[validate] {name} v{model_version} vs champion "
        f"{'v' + champion_version if champion_version else '(none)'}: {decision.outcome} "
        f"({time.perf_counter() - started:.0f}s)",
        flush=True,
    )
    for check in decision.checks:
        print(f"[validate]   {'PASS' if check.passed else 'FAIL'} {check.name}: {check.detail}", flush=True)
    return {"decision": decision.outcome, "promote": str(decision.promote).lower()}


def record(settings: Settings, decision: Decision, job_run_id: str) -> None:
    name, version = settings.model_name, decision.challenger_version
    with mlflow.start_run(run_name=f"validate-v{version}") as run:
        mlflow.set_tags({"job_run_id": job_run_id or "local", "model_version": version, "task": "validate"})
        mlflow.log_metrics(
            {f"challenger_{k}": v for k, v in decision.challenger_metrics.items()}
            | {f"champion_{k}": v for k, v in decision.champion_metrics.items()}
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / REPORT
            path.write_text(json.dumps(decision.to_dict(), indent=1))
            mlflow.log_artifact(str(path))
    registry.set_tags(name, version, decision.tags() | {"validation_run_id": run.info.run_id})
    current = registry.version(name, version).description or ""
    registry.client().update_model_version(name, version, description=f"{current}\n\n{decision.description()}".strip())
