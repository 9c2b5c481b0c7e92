"""Seconds per Hyperopt trial: SparkXGBClassifier (the chosen model) against single-node
xgboost on the same rows, features and parameters, measured in the same run.

    .venv/bin/python benchmarks/training_trial.py [--members 20000] [--trials 3]

A trial is what the search does each time: fit on the cached train split, score the
validation split (collected to the driver once, before the trials). The single-node
fit gets the same rows as a NumPy matrix, with as many threads as Spark has cores.
Target: a trial at most 2x the single-node fit.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import private_home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    private_home("trial")

    import numpy as np
    import xgboost as xgb
    from _cohort import features_for
    from pyspark.ml.functions import vector_to_array

    from ml.training import estimator

    _, data = features_for(args.members)
    spark = data.frames["train"].sparkSession
    params = {
        "max_depth": 5,
        "n_estimators": 120,
        "learning_rate": 0.1,
        "subsample": 0.8,
        "colsample_bytree": 0.6,
        "min_child_weight": 3.0,
        "reg_lambda": 1.0,
    }
    train = data.frames["train"]
    print(
        f"train {data.counts['train']:,} rows, validation {data.counts['validation']:,}, "
        f"{len(data.columns)} model columns, {estimator.num_workers(spark)} xgboost workers"
    )
    _, x_val = estimator.on_driver(data.frames["validation"])  # as the search does, once
    spark_times = []
    for _ in range(args.trials):
        started = time.perf_counter()
        model = estimator.fit(train, params, data.columns, 7)
        estimator.predict(model, x_val)
        spark_times.append(time.perf_counter() - started)

    def matrix(frame):
        pdf = frame.select("label", vector_to_array("features").alias("x")).toPandas()
        return np.stack(pdf["x"].to_numpy()).astype(np.float32), pdf["label"].to_numpy()

    x_train, y_train = matrix(train)
    threads = spark.sparkContext.defaultParallelism
    single = []
    for _ in range(args.trials):
        started = time.perf_counter()
        clf = xgb.XGBClassifier(tree_method="hist", n_jobs=threads, random_state=7, **params)
        clf.fit(x_train, y_train)
        clf.predict_proba(x_val)
        single.append(time.perf_counter() - started)
    s, n = statistics.median(spark_times), statistics.median(single)
    print(
        f"SparkXGBClassifier trial   {s:6.1f} s (median of {args.trials}: {', '.join(f'{t:.1f}' for t in spark_times)})"
    )
    print(f"single-node xgboost trial  {n:6.1f} s (median of {args.trials}: {', '.join(f'{t:.1f}' for t in single)})")
    print(f"ratio                      {s / n:6.2f} x (target: at most 2.00 x)")


if __name__ == "__main__":
    main()
