"""Loading a registered model version's files, and scoring a Spark frame with them.

Scoring runs in mapInPandas with the booster shipped once per task, rather than
through mlflow.pyfunc.spark_udf: the same model files and imputation, plus each row's
top contributing features, which the pyfunc cannot return (benchmarks/scoring.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from ml.errors import DataError
from ml.registry import client as registry
from ml.training.scorer import RiskScorer


def load_scorer(model_name: str, alias: str | None = None, version: str | None = None) -> tuple[RiskScorer, str]:
    """The scorer of `model_name@alias` (or a version) and its version number."""
    found = registry.by_alias(model_name, alias) if alias else registry.version(model_name, version)
    if found is None:
        which = f"alias @{alias}" if alias else f"version {version}"
        hint = " (run the training job first)" if alias == registry.CHAMPION else ""
        raise DataError(f"model {model_name} has no {which}{hint}")
    folder = mlflow.artifacts.download_artifacts(f"models:/{model_name}/{found.version}")
    return RiskScorer.from_folder(Path(folder)), str(found.version)


def check_features(scorer: RiskScorer, frame: DataFrame, where: str) -> None:
    missing = [f for f in scorer.features if f not in frame.columns]
    if missing:
        raise DataError(
            f"{where} lacks {len(missing)} features the model needs (first: {missing[0]}): "
            "rerun the feature job with the model's feature configuration"
        )


def score(
    frame: DataFrame, scorer: RiskScorer, keep: list[str], top_factors: int = 0, readable: dict[str, str] | None = None
) -> DataFrame:
    """`keep` columns plus `risk_score` and, when asked, `top_factor_1..n` in readable names."""
    readable = readable or {}
    fields = [frame.schema[c] for c in keep] + [T.StructField("risk_score", T.DoubleType())]
    fields += [T.StructField(f"top_factor_{i + 1}", T.StringType()) for i in range(top_factors)]
    features = scorer.features

    def batches(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for part in parts:
            out = part[keep].copy()
            if top_factors:
                scores, factors = scorer.predict_with_factors(part[features], top_factors)
                for i in range(top_factors):
                    out[f"top_factor_{i + 1}"] = [readable.get(row[i], row[i]) for row in factors]
            else:
                scores = scorer.predict(part[features])
            out.insert(len(keep), "risk_score", np.asarray(scores, dtype=np.float64))
            yield out

    return frame.select(*keep, *features).mapInPandas(batches, T.StructType(fields))
