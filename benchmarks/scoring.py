"""Batch scoring throughput: rows per second for the chosen path (mapInArrow with the
model's booster, plus top factors) and for mlflow.pyfunc.spark_udf over the same
registered model, on the same rows, in the same run.

    .venv/bin/python benchmarks/scoring.py [--members 20000] [--episodes 100000 1000000]
                                           [--factor-method exact]

The model is realistic: the default cohort is generated and its feature table built
(about 5 minutes), then xgboost is fitted on its training split with the imputation
fitted there. The scored rows are that feature table's snapshots, repeated under new
episode ids up to each size and written once to Parquet; both paths read them and
write their output to Parquet (a real sink, not a count that Spark could short-cut).
Both paths are warmed up first on 20,000 rows of the same shape, so the figures are
throughput, not Python-worker start-up or JVM compilation. Target: the chosen path at
least 2x faster.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from _common import private_home, timer

PARAMS = {
    "objective": "binary:logistic",
    "max_depth": 5,
    "eta": 0.1,
    "subsample": 0.8,
    "colsample_bytree": 0.6,
    "min_child_weight": 3,
    "seed": 7,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--episodes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--factors", type=int, default=3, help="top factors the chosen path adds")
    parser.add_argument("--factor-method", choices=["approximate", "exact"], default="approximate")
    args = parser.parse_args()
    home = private_home("scoring")

    import mlflow
    import numpy as np
    import xgboost as xgb
    from _cohort import features_for
    from pyspark.sql import functions as F

    from ml.data import outputs
    from ml.data.store import table_store
    from ml.features.definitions import descriptions
    from ml.inference.model import score
    from ml.runtime.tracking import configure_mlflow
    from ml.training.job import log_model
    from ml.training.scorer import RiskScorer

    settings, data = features_for(args.members)
    spark = data.frames["train"].sparkSession
    train = data.frames["train"].select("label", F.col("features").alias("x")).toPandas()
    matrix = xgb.DMatrix(np.stack(train["x"].to_numpy()), train["label"], feature_names=data.columns)
    scorer = RiskScorer(xgb.train(PARAMS, matrix, 150), data.imputation)
    configure_mlflow("/Shared/hrob/benchmark/scoring")
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run():
        info = log_model(scorer.save(Path(tmp)), data)
    readable = descriptions(settings.project.features.lookback_months)
    snapshots = table_store(spark, settings.namespace).read(outputs.FEATURES).select(*scorer.features).cache()
    available = snapshots.count()
    print(
        f"model: {len(data.columns)} columns, splits on {len(scorer.used_features)} of {len(scorer.features)} "
        f"features; rows drawn from {available:,} feature snapshots"
    )

    udf = mlflow.pyfunc.spark_udf(spark, info.model_uri, result_type="double", env_manager="local")
    exact = args.factor_method == "exact"

    def rows_of(n: int):
        """`n` rows written once to Parquet, read back as the scoring job reads its input."""
        source = str(home / f"rows_{n}")
        copies = spark.range(math.ceil(n / available)).withColumnRenamed("id", "copy")
        rows = snapshots.crossJoin(copies).limit(n)
        rows.select(F.monotonically_increasing_id().alias("episode_id"), *scorer.features).write.parquet(source)
        return spark.read.parquet(source)

    def chosen(rows):
        return score(rows, scorer, ["episode_id"], args.factors, readable, exact)

    def spark_udf(rows):
        return rows.select("episode_id", udf(F.struct(*scorer.features)).alias("risk_score"))

    # Both paths run once on 20,000 rows of the same shape before anything is timed: Python
    # workers started, the model loaded in them, the JVM's code for this plan compiled.
    warm_up, first = rows_of(20_000), []
    for path in (chosen, spark_udf):
        with timer() as took:
            path(warm_up).write.mode("overwrite").parquet(str(home / "warm_up"))
        first.append(took["seconds"])
    print(f"warm-up on 20,000 rows (start-up included): chosen {first[0]:.1f} s, spark_udf {first[1]:.1f} s")
    print(f"chosen: mapInArrow, scores + top {args.factors} factors ({args.factor_method}); spark_udf: scores only")
    print(f"{'episodes':>10} {'chosen rows/s':>14} {'spark_udf rows/s':>17} {'ratio':>6}")
    for n in args.episodes:
        rows = rows_of(n)
        with timer() as ours:
            chosen(rows).write.mode("overwrite").parquet(str(home / "out_ours"))
        with timer() as theirs:
            spark_udf(rows).write.mode("overwrite").parquet(str(home / "out_udf"))
        a, b = n / ours["seconds"], n / theirs["seconds"]
        print(f"{n:>10,} {a:>14,.0f} {b:>17,.0f} {a / b:>5.1f}x", flush=True)


if __name__ == "__main__":
    main()
