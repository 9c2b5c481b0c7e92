"""Hyperopt TPE over the configured space: one nested MLflow run per trial.

Seeded end to end (Hyperopt's rstate, xgboost's seed, a fixed partitioning of
the cached training rows), so the same data and seed give the same trials and best
parameters. Stops early after `early_stopping_trials` trials without improvement.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import mlflow
import numpy as np
from hyperopt import STATUS_OK, Trials, fmin, tpe
from hyperopt.early_stop import no_progress_loss

from ml.config.models import TrainingSettings
from ml.evaluation.metrics import classification_metrics
from ml.training import estimator
from ml.training.prepare import PreparedData
from ml.training.space import decode, to_hyperopt


@dataclass
class Trial:
    number: int
    params: dict[str, Any]
    metrics: dict[str, float]
    seconds: float
    run_id: str


@dataclass
class SearchResult:
    trials: list[Trial] = field(default_factory=list)
    primary_metric: str = "auroc"

    @property
    def best(self) -> Trial:
        return max(self.trials, key=lambda t: (t.metrics[self.primary_metric], -t.number))


def search(data: PreparedData, config: TrainingSettings, progress: bool = True) -> SearchResult:
    """Run the trials inside the active (parent) MLflow run."""
    result = SearchResult(primary_metric=config.primary_metric)
    train = data.frames["train"]
    rows, validation = estimator.on_driver(data.frames["validation"])
    labels = rows["label"].to_numpy()

    def objective(raw: dict[str, Any]) -> dict[str, Any]:
        params = decode(raw)
        number = len(result.trials) + 1
        with mlflow.start_run(run_name=f"trial-{number:03d}", nested=True) as run:
            mlflow.log_params(params)
            started = time.perf_counter()
            booster = estimator.fit(train, params, data.columns, config.seed)
            scores = estimator.predict(booster, validation)
            seconds = time.perf_counter() - started
            metrics = classification_metrics(labels, scores)
            mlflow.log_metrics({f"val_{k}": v for k, v in metrics.items()} | {"trial_seconds": seconds})
        result.trials.append(Trial(number, params, metrics, seconds, run.info.run_id))
        return {"loss": -metrics[config.primary_metric], "status": STATUS_OK}

    startup = max(2, min(config.max_evals // 3, 10))  # random draws before TPE models the space
    fmin(
        objective,
        to_hyperopt(config.search_space),
        algo=partial(tpe.suggest, n_startup_jobs=startup),
        max_evals=config.max_evals,
        trials=Trials(),
        rstate=np.random.default_rng(config.seed),
        early_stop_fn=no_progress_loss(config.early_stopping_trials),
        show_progressbar=progress,
    )
    return result
