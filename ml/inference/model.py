"""Loading a registered model version's files, and scoring a Spark frame with them.

Scoring runs in mapInArrow with the booster shipped once per task, rather than through
mlflow.pyfunc.spark_udf: Arrow columns go straight into one float matrix (no pandas
frame of 563 columns, no per-batch schema enforcement), and each row's top contributing
features come back with its score, which the pyfunc cannot return (benchmarks/scoring.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from ml.errors import DataError
from ml.registry import client as registry
from ml.training.scorer import RiskScorer, top_columns


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


def feature_matrix(batch: pa.RecordBatch, features: list[str]) -> np.ndarray:
    """The batch's columns among `features` as one float64 matrix; nulls and absent columns are NaN."""
    values = np.full((batch.num_rows, len(features)), np.nan, dtype=np.float64, order="F")
    present = set(batch.schema.names)
    for i, name in enumerate(features):
        if name in present:
            values[:, i] = batch.column(name).to_numpy(zero_copy_only=False)
    return values


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
    fields = [frame.schema[c] for c in keep] + [T.StructField("risk_score", T.DoubleType())]
    fields += [T.StructField(f"top_factor_{i + 1}", T.StringType()) for i in range(top_factors)]
    names = [field.name for field in fields]
    features = scorer.features
    labels = np.array([readable.get(c, c) for c in scorer.split_columns], dtype=object)

    def batches(parts: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in parts:
            matrix = scorer.matrix(scorer.imputation.apply_numpy(feature_matrix(batch, features)))
            columns = [batch.column(c) for c in keep]
            columns.append(pa.array(scorer.predict_matrix(matrix).astype(np.float64)))
            if top_factors:
                named = labels[top_columns(scorer.contributions(matrix, exact_factors), top_factors)]
                for i in range(top_factors):  # a model with fewer split columns leaves the rest empty
                    column = named[:, i] if i < named.shape[1] else [None] * batch.num_rows
                    columns.append(pa.array(column, pa.string()))
            yield pa.RecordBatch.from_arrays(columns, names=names)

    return frame.select(*keep, *scorer.used_features).mapInArrow(batches, T.StructType(fields))
