"""Loading a registered model version's files, and scoring a Spark frame with them.

Scoring runs in mapInArrow rather than through mlflow.pyfunc.spark_udf: only the
columns the trees read leave the JVM, Arrow columns go straight into one float matrix
(no pandas frame of 563 columns, no per-batch schema enforcement), the workers walk the
trees as NumPy tables without importing xgboost or MLflow (ml/inference/batches.py), and
each row's top contributing features come back with its score, which the pyfunc cannot
return (benchmarks/scoring.py).
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import xgboost as xgb
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from ml.errors import DataError, ModelError
from ml.inference.batches import BatchScorer
from ml.registry import client as registry
from ml.training.scorer import LANDMARK, RiskScorer


def load_scorer(model_name: str, alias: str | None = None, version: str | None = None) -> tuple[RiskScorer, str]:
    """The scorer of `model_name@alias` (or a version) and its version number."""
    found = registry.by_alias(model_name, alias) if alias else registry.version(model_name, version)
    if found is None:
        which = f"alias @{alias}" if alias else f"version {version}"
        hint = " (run the training job first)" if alias == registry.CHAMPION else ""
        raise DataError(f"model {model_name} has no {which}{hint}")
    where = f"model {model_name} version {found.version}"
    try:
        folder = mlflow.artifacts.download_artifacts(f"models:/{model_name}/{found.version}")
    except (mlflow.exceptions.MlflowException, OSError) as error:
        raise ModelError(f"{where}: its files cannot be read ({_first_line(error)}); {_REMEDY}") from None
    try:
        return RiskScorer.from_folder(Path(folder)), str(found.version)
    except (OSError, ValueError, xgb.core.XGBoostError) as error:  # missing, truncated or corrupt files
        raise ModelError(f"{where}: its files are incomplete or corrupt ({_first_line(error)}); {_REMEDY}") from None


_REMEDY = "roll back (hrob model rollback) or train and promote a new version"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def check_features(scorer: RiskScorer, frame: DataFrame, where: str) -> None:
    missing = [f for f in scorer.features if f not in frame.columns]
    if missing:
        raise DataError(
            f"{where} lacks {len(missing)} features the model needs (first: {missing[0]}): "
            "rerun the feature job with the model's feature configuration"
        )


def score(
    frame: DataFrame,
    scorer: RiskScorer,
    keep: list[str],
    top_factors: int = 0,
    readable: dict[str, str] | None = None,
    exact_factors: bool = False,
) -> DataFrame:
    """`keep` columns plus `risk_score` and, when asked, `top_factor_1..n` in readable names.

    Only the features the booster splits on are read: with columnar storage the others
    would cost reading and shipping to Python for nothing.
    """
    readable = readable or {}
    scorer_task = BatchScorer(
        imputation=scorer.imputation,
        trees=scorer.trees,
        attribution=scorer.attribution,
        keep=keep,
        factor_names=np.array([readable.get(c, c) for c in scorer.split_columns], dtype=object),
        top_factors=top_factors,
        exact_booster=bytes(scorer.booster.save_raw("json")) if exact_factors else None,
        recalibration=scorer.recalibration,
        landmark_column=LANDMARK if LANDMARK in keep else None,
    )
    added = scorer_task.output_names[len(keep) :]  # risk_score, then the factors' names
    fields = [frame.schema[c] for c in keep] + [T.StructField(added[0], T.DoubleType())]
    fields += [T.StructField(name, T.StringType()) for name in added[1:]]
    return frame.select(*keep, *scorer.used_features).mapInArrow(scorer_task, T.StructType(fields))
