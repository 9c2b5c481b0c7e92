"""Batch scoring throughput: rows per second for the chosen path (mapInPandas with the
model's booster, plus top factors) and for mlflow.pyfunc.spark_udf over the same
registered model, on the same rows, in the same run.

    .venv/bin/python benchmarks/scoring.py [--episodes 100000 1000000]

Rows are synthetic feature vectors with the real feature names, written once to Parquet
and read by both paths; each path's output is written to Parquet (a real sink, not a
count that Spark could short-cut). Target: the chosen path at least 2x faster.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import private_home, timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--factors", type=int, default=3, help="top factors the chosen path adds")
    args = parser.parse_args()
    home = private_home("scoring")

    import mlflow
    import numpy as np
    import xgboost as xgb
    from pyspark.sql import functions as F

    from ml.config.loader import load_settings
    from ml.features.definitions import catalogue, descriptions
    from ml.features.imputation import FittedImputation, Rule
    from ml.inference.model import score
    from ml.runtime.spark import get_spark
    from ml.runtime.tracking import configure_mlflow
    from ml.training.job import log_model
    from ml.training.prepare import PreparedData
    from ml.training.scorer import RiskScorer

    settings = load_settings("local")
    windows = settings.project.features.lookback_months
    names = [f.name for f in catalogue(windows)]
    rng = np.random.default_rng(5)
    x = rng.normal(size=(5000, len(names)))
    y = (x[:, :10].sum(axis=1) + rng.normal(size=5000) > 0).astype(int)
    booster = xgb.train({"max_depth": 5, "eta": 0.1, "seed": 5}, xgb.DMatrix(x, y, feature_names=names), 150)
    imputation = FittedImputation({n: Rule("leave_missing", None) for n in names})
    configure_mlflow("/Shared/hrob/benchmark/scoring")
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run():
        info = log_model(
            RiskScorer(booster, imputation).save(Path(tmp)), PreparedData({}, imputation, {}, {}, "", None)
        )
    scorer = RiskScorer(booster, imputation)
    readable = descriptions(windows)

    spark = get_spark("hrob-benchmark")
    udf = mlflow.pyfunc.spark_udf(spark, info.model_uri, result_type="double", env_manager="local")
    print(f"{'episodes':>10} {'mapInPandas rows/s':>19} {'spark_udf rows/s':>17} {'ratio':>6}")
    for n in args.episodes:
        source = str(home / f"rows_{n}")
        spark.range(n).select(
            F.col("id").alias("episode_id"), *[F.rand(seed=i).alias(c) for i, c in enumerate(names)]
        ).write.parquet(source)
        rows = spark.read.parquet(source)
        with timer() as ours:
            score(rows, scorer, ["episode_id"], args.factors, readable).write.mode("overwrite").parquet(
                str(home / "out_ours")
            )
        with timer() as theirs:
            rows.select("episode_id", udf(F.struct(*names)).alias("risk_score")).write.mode("overwrite").parquet(
                str(home / "out_udf")
            )
        a, b = n / ours["seconds"], n / theirs["seconds"]
        print(f"{n:>10,} {a:>19,.0f} {b:>17,.0f} {a / b:>5.1f}x", flush=True)


if __name__ == "__main__":
    main()
