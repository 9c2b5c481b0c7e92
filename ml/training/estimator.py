"""The Spark model: xgboost's SparkXGBClassifier, so training scales out on a cluster.

Chosen by measurement (README, benchmarks/training_trial.py): Spark ML's GBTClassifier
was 3.6x slower for the same trees; SparkXGBClassifier fed plain numeric columns
assembled once into a vector column, cached and pre-partitioned (ml/training/prepare.py).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from xgboost.spark import SparkXGBClassifier, SparkXGBClassifierModel

from ml.training.prepare import SUBGROUPS, VECTOR

# xgboost.spark logs every fit's parameters at INFO; the trial progress bar says enough.
logging.getLogger("XGBoost-PySpark").setLevel(logging.WARNING)


def num_workers(spark: SparkSession) -> int:
    """One xgboost worker per core the session can run tasks on (HROB_XGB_WORKERS overrides)."""
    override = os.environ.get("HROB_XGB_WORKERS")
    return int(override) if override else max(1, spark.sparkContext.defaultParallelism)


def classifier(params: dict[str, Any], seed: int, workers: int) -> SparkXGBClassifier:
    return SparkXGBClassifier(
        features_col=VECTOR,
        label_col="label",
        num_workers=workers,
        tree_method="hist",
        random_state=seed,
        missing=float("nan"),
        verbose=False,
        **params,
    )


def fit(train: DataFrame, params: dict[str, Any], columns: list[str], seed: int) -> SparkXGBClassifierModel:
    """Fit on the assembled vector; the booster is given the column names for importance and SHAP."""
    model = classifier(params, seed, num_workers(train.sparkSession)).fit(train)
    model.get_booster().feature_names = list(columns)
    return model


def on_driver(frame: DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """A split's labels and float32 feature matrix (NaN = missing), collected once.

    The search scores every trial's booster on the validation split here: 0.03-0.05 s a
    trial against 0.74-0.91 s through transform and toPandas (3,345 validation rows x 671
    columns, measured). The validation split is a fifth of the episodes, which a driver
    holds comfortably (100,000 episodes x 671 columns is 270 MB).
    """
    pdf = frame.select("label", vector_to_array(VECTOR, "float32").alias("x")).toPandas()
    return pdf["label"].to_numpy(np.int64), np.stack(pdf["x"].to_numpy())


def predict(model: SparkXGBClassifierModel, matrix: np.ndarray) -> np.ndarray:
    """The probability of the positive class for each row of `matrix`, on the driver."""
    return model.get_booster().inplace_predict(matrix, missing=np.nan)


def scored(model: SparkXGBClassifierModel, frame: DataFrame) -> pd.DataFrame:
    """Labels, scores and subgroup columns of `frame` on the driver (no features, no ids)."""
    out = model.transform(frame).select(
        "label", vector_to_array("probability")[1].alias("score"), *[F.col(s) for s in SUBGROUPS]
    )
    pdf = out.toPandas()
    pdf["label"] = pdf["label"].astype(np.int64)
    return pdf
