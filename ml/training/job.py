"""The `train` task: the landmark training set as known on the as-of date, Hyperopt search,
the best refitted and registered as `challenger`; returns its version for the `validate`
task. Test metrics are logged overall and per landmark."""

from __future__ import annotations

import importlib.metadata
import tempfile
import time
import warnings
from datetime import date, datetime
from pathlib import Path
from typing import Any

import mlflow
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from ml.config.loader import Settings
from ml.data.store import table_store
from ml.evaluation.landmarks import flat, landmark_metrics
from ml.evaluation.metrics import classification_metrics
from ml.features.definitions import descriptions
from ml.features.training_set import Periods
from ml.features.training_set import build as build_training_set
from ml.registry import client as registry
from ml.runtime.provenance import git_commit
from ml.runtime.spark import get_spark
from ml.runtime.tracking import configure_mlflow
from ml.runtime.verbosity import verbose
from ml.training import estimator, recalibration, report
from ml.training.prepare import PreparedData, prepare
from ml.training.scorer import LANDMARK, RiskScorer, ScoreReference
from ml.training.search import search
from ml.training.space import check_sampleable, to_hyperopt

_STARTED = [time.perf_counter()]
MODEL_FILE = Path(__file__).with_name("pyfunc_model.py")
PACKAGE = Path(__file__).resolve().parents[1]  # ml/: shipped with the model for imputation and scoring


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def log(message: str) -> None:
    print(f"[train {time.perf_counter() - _STARTED[0]:5.0f}s] {message}", flush=True)


def signature(features: list[str]) -> ModelSignature:
    """Built from the feature list, not from member rows: no input example is logged."""
    inputs = Schema(
        [ColSpec("double", name, required=False) for name in features]
        + [ColSpec("string", LANDMARK, required=False)]  # recalibrated by landmark when given
    )
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double", "risk_score")]))


def run(settings: Settings, job_run_id: str = "", as_of: date | None = None) -> dict[str, Any]:
    _STARTED[0] = time.perf_counter()
    as_of = as_of or date.today()
    config = settings.project.training
    check_sampleable(to_hyperopt(config.search_space), config.seed)  # before any data is read
    spark = get_spark("hrob-train")
    sources = table_store(spark, settings.environment.source_schema)
    store = table_store(spark, settings.namespace)

    log(
        f"building the landmark training set from {store.namespace} as known on {as_of}: "
        + Periods.of(settings, as_of).describe()
    )
    data = prepare(settings, build_training_set(settings, sources, store, as_of), estimator.num_workers(spark))
    log(
        "landmark rows per split: "
        + ", ".join(f"{s} {n:,} ({data.positives[s]:,} positive)" for s, n in data.counts.items())
        + f"; {len(data.columns)} model columns"
    )
    if data.gaps:
        log(
            "rows without a usable snapshot (features missing): "
            + ", ".join(f"{r} {n:,}" for r, n in data.gaps.items())
        )
    try:
        return _train(settings, data, job_run_id, as_of)
    finally:
        data.unpersist()


def _train(settings: Settings, data: PreparedData, job_run_id: str, as_of: date) -> dict[str, Any]:
    config = settings.project.training
    configure_mlflow(settings.environment.experiment_path)
    commit = git_commit(job_run_id)
    with mlflow.start_run(run_name=f"train-{datetime.now():%Y%m%d-%H%M%S}") as parent:
        mlflow.set_tags({"git_commit": commit, "job_run_id": job_run_id or "local", "env": settings.env})
        mlflow.log_params(
            {
                "label": data.label,
                "as_of": as_of.isoformat(),
                "landmarks": ",".join(lm.name for lm in settings.project.landmarks),
                "features": len(data.imputation.features),
                "model_columns": len(data.columns),
                "feature_as_of": data.feature_as_of_max or "none",
                "seed": config.seed,
                "split_seed": config.split_config.seed,
                "max_evals": config.max_evals,
                "early_stopping_trials": config.early_stopping_trials,
                "primary_metric": config.primary_metric,
                **{f"rows_{s}": n for s, n in data.counts.items()},
            }
        )
        mlflow.log_metrics({f"rows_without_snapshot_{_slug(r)}": n for r, n in data.gaps.items()})
        log(f"searching: up to {config.max_evals} trials, stop after {config.early_stopping_trials} without gain")
        result = search(data, config, progress=verbose())  # Hyperopt's bar floods CI logs
        best = result.best
        per_trial = sum(t.seconds for t in result.trials) / len(result.trials)
        log(
            f"best trial {best.number} of {len(result.trials)}: validation {config.primary_metric} "
            f"{best.metrics[config.primary_metric]:.4f} ({per_trial:.1f} s per trial)"
        )
        mlflow.log_metric("seconds_per_trial", per_trial)
        mlflow.log_params({f"best_{k}": v for k, v in best.params.items()} | {"trials_run": len(result.trials)})
        mlflow.log_metric("best_val_" + config.primary_metric, best.metrics[config.primary_metric])

        log("refitting the best parameters on train + validation; recalibrating on the newest months")
        refit_rows = data.frames["train"].unionByName(data.frames["validation"])
        booster = estimator.fit(refit_rows, best.params, data.columns, config.seed)
        calibration_rows = estimator.scored(booster, data.frames["calibration"])
        recalibrated = recalibration.fit(
            calibration_rows["score"].to_numpy(), calibration_rows["label"].to_numpy(), calibration_rows["landmark"]
        )
        mlflow.log_params(recalibrated.params() | {"recalibration_rows": recalibrated.rows})
        log(
            f"recalibration on {recalibrated.rows:,} rows: slope {recalibrated.slope:.3f}, intercepts "
            + ", ".join(f"{k} {v:+.3f}" for k, v in recalibrated.intercepts.items())
        )
        test = estimator.scored(booster, data.frames["test"])
        test["raw_score"] = test["score"]
        test["score"] = recalibrated.apply(test["raw_score"].to_numpy(), test["landmark"].to_numpy())
        metrics = classification_metrics(test["label"].to_numpy(), test["score"].to_numpy())
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
        capacity = settings.project.inference.capacity_share
        per_landmark = landmark_metrics(test, capacity, [lm.name for lm in settings.project.landmarks])
        mlflow.log_metrics(flat(per_landmark, "test_"))
        for landmark, values in per_landmark.items():
            log(
                f"holdout {landmark}: AUROC {values.get('auroc', float('nan')):.3f}, "
                f"PPV at capacity (top {capacity:.0%}) {values.get('ppv', float('nan')):.3f}, "
                f"calibration intercept {values.get('calibration_intercept', float('nan')):+.3f} "
                f"({values['rows']:,.0f} rows)"
            )

        readable = descriptions(settings.project.features.lookback_months)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            report.write_report(
                folder / "report",
                settings,
                booster,
                data.columns,
                readable,
                test,
                data.imputation.to_json(),
                per_landmark,
            )
            mlflow.log_artifacts(str(folder / "report"), "report")
            scorer = RiskScorer(booster, data.imputation, recalibrated, ScoreReference.of(test["score"].to_numpy()))
            artifacts = scorer.save(folder / "model_files")
            with warnings.catch_warnings():
                # No input example on purpose: it would be member rows. The signature stands in.
                warnings.filterwarnings("ignore", message=".*An input example was not provided")
                info = log_model(artifacts, data)
        tags = {
            "git_commit": commit,
            "job_run_id": job_run_id or "local",
            "as_of": as_of.isoformat(),
            registry.SPLIT_SEED_TAG: str(config.split_config.seed),
            "feature_as_of": data.feature_as_of_max,
            "test_auroc": f"{metrics['auroc']:.4f}",
            "test_auprc": f"{metrics['auprc']:.4f}",
        }
        version = registry.register(
            info.model_uri,
            settings.model_name,
            parent.info.run_id,
            tags,
            description=f"Trained by run {parent.info.run_id} on features as of {data.feature_as_of_max}; "
            f"test AUROC {metrics['auroc']:.3f}, AUPRC {metrics['auprc']:.3f}.",
        )
    log(
        f"registered {settings.model_name} version {version} as challenger: test AUROC {metrics['auroc']:.3f}, "
        f"AUPRC {metrics['auprc']:.3f}"
    )
    return {"model_version": version, "training_run_id": parent.info.run_id}


# What the registered model imports to load and predict (pyfunc_model.py, scorer.py and the
# ml modules they import); tests/spark/test_model_portability.py keeps the list complete.
MODEL_IMPORTS = ("mlflow", "xgboost", "pandas", "numpy")


def model_requirements() -> list[str]:
    """Every distribution the model imports, pinned to the version that trained it (locally
    the lock's; on a cluster the runtime's: xgboost-cpu here is xgboost there)."""
    owners = importlib.metadata.packages_distributions()
    pins = {}
    for module in MODEL_IMPORTS:
        for distribution in owners[module]:
            pins[distribution] = f"{distribution}=={importlib.metadata.version(distribution)}"
    return sorted(pins.values())


def log_model(artifacts: dict[str, str], data: PreparedData):
    """The pyfunc model (models-from-code) with its files, the ml package and a signature."""
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(MODEL_FILE),
        artifacts=artifacts,
        code_paths=[str(PACKAGE)],
        signature=signature(data.imputation.features),
        pip_requirements=model_requirements(),
    )
