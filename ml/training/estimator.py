"""The model: xgboost trained across Spark tasks, so training scales out on a cluster.

Chosen by measurement (docs/training.md, benchmarks/training_trial.py): Spark ML's GBTClassifier
was 3.6x slower for the same trees than xgboost on Spark. The workers are started by
ml/training/distributed.py rather than xgboost.spark's SparkXGBClassifier, whose three
Spark barrier syncs cost a second each per fit. Rows come from the cached, pre-partitioned
float32 array column (ml/training/prepare.py); validation and test rows are scored on the driver.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from xgboost.tracker import RabitTracker

from ml.runtime.verbosity import verbose
from ml.training import distributed
from ml.training.prepare import FEATURES, SUBGROUPS


def num_workers(spark: SparkSession) -> int:
    """One xgboost worker per task slot the session has (HROB_XGB_WORKERS overrides)."""
    override = os.environ.get("HROB_XGB_WORKERS")
    return int(override) if override else max(1, spark.sparkContext.defaultParallelism)


def fit(train: DataFrame, params: dict[str, Any], columns: list[str], seed: int) -> xgb.Booster:
    """One booster, one xgboost worker per partition of `train` (repartitioned to
    `num_workers` if it has another count); named columns for importance and attribution."""
    workers = num_workers(train.sparkSession)
    if train.rdd.getNumPartitions() != workers:  # a barrier stage needs a free slot per task
        train = train.repartition(workers)
    conf = train.sparkSession.sparkContext.getConf()
    native, rounds = distributed.booster_params(params, seed, threads=int(conf.get("spark.task.cpus", "1")))
    tracker = RabitTracker(n_workers=workers, host_ip=conf.get("spark.driver.host"), sortby="task")
    tracker.start()
    # Returns once every worker has left the collective; a failed stage leaves it to exit with the driver.
    threading.Thread(target=tracker.wait_for, daemon=True).start()
    work = functools.partial(
        distributed.train_partition,
        tracker=tracker.worker_args() | {"n_workers": workers},
        params=native,
        rounds=rounds,
        width=len(columns),
        quiet=not verbose(),
    )
    rows = (
        train.select(
            F.col("label").cast("double").alias(distributed.LABEL),
            F.col(FEATURES).alias(distributed.MATRIX),
        )
        .mapInArrow(work, distributed.MODEL_SCHEMA, barrier=True)
        .collect()
    )
    booster = xgb.Booster(model_file=bytearray(rows[0].model))
    booster.feature_names = list(columns)
    return booster


def on_driver(frame: DataFrame, *columns: str) -> tuple[pd.DataFrame, np.ndarray]:
    """A split's labels (and `columns`) and its float32 feature matrix (NaN = missing).

    The search scores every trial's booster on the validation split collected once here:
    0.03-0.05 s a trial against 0.74-0.91 s through a Spark transform and toPandas (3,345
    validation rows x 671 columns, measured). The validation and test splits are 15% of
    the episodes each by default, which a driver holds comfortably (100,000 episodes x 671
    columns is 270 MB).
    """
    pdf = frame.select("label", *columns, F.col(FEATURES).alias("x")).toPandas()
    matrix = np.stack(pdf.pop("x").to_numpy())
    pdf["label"] = pdf["label"].astype(np.int64)
    return pdf, matrix


def predict(booster: xgb.Booster, matrix: np.ndarray) -> np.ndarray:
    """The probability of the positive class for each row of `matrix`, on the driver."""
    return booster.inplace_predict(matrix, missing=np.nan)


def scored(booster: xgb.Booster, frame: DataFrame) -> pd.DataFrame:
    """Labels, scores, landmark and subgroup columns of `frame` (no features, no ids)."""
    rows, matrix = on_driver(frame, "landmark", *SUBGROUPS)
    rows["score"] = predict(booster, matrix)
    return rows
