"""Seconds per Hyperopt trial: the chosen model (xgboost on Spark tasks, ml/training/
distributed.py) against single-node xgboost on the same rows, features and parameters,
measured in the same run; xgboost.spark's SparkXGBClassifier is timed too, for reference.

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

    import logging

    import numpy as np
    import xgboost as xgb
    from _cohort import features_for
    from xgboost.spark import SparkXGBClassifier

    from ml.training import estimator
    from ml.training.prepare import FEATURES

    logging.getLogger("XGBoost-PySpark").setLevel(logging.WARNING)  # its INFO line per fit
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
    workers = estimator.num_workers(spark)
    print(
        f"train {data.counts['train']:,} rows, validation {data.counts['validation']:,}, "
        f"{len(data.columns)} model columns, {workers} xgboost workers"
    )
    _, x_val = estimator.on_driver(data.frames["validation"])  # as the search does, once

    def timed(trial) -> list[float]:
        seconds = []
        for _ in range(args.trials):
            started = time.perf_counter()
            trial()
            seconds.append(time.perf_counter() - started)
        return seconds

    ours = timed(lambda: estimator.predict(estimator.fit(train, params, data.columns, 7), x_val))
    reference = SparkXGBClassifier(
        features_col=FEATURES,
        label_col="label",
        num_workers=workers,
        tree_method="hist",
        missing=float("nan"),
        verbose=False,
        **params,
    )
    spark_xgb = timed(lambda: reference.fit(train).get_booster().inplace_predict(x_val, missing=np.nan))
    rows, x_train = estimator.on_driver(train)
    single = timed(
        lambda: (
            xgb.XGBClassifier(tree_method="hist", n_jobs=workers, random_state=7, **params)
            .fit(x_train, rows["label"].to_numpy())
            .predict_proba(x_val)
        )
    )

    def line(name: str, seconds: list[float]) -> float:
        median = statistics.median(seconds)
        runs = ", ".join(f"{t:.1f}" for t in seconds)
        print(f"{name:34}{median:6.1f} s (median of {args.trials}: {runs})")
        return median

    s = line("xgboost on Spark tasks (ours)", ours)
    line("xgboost.spark SparkXGBClassifier", spark_xgb)
    n = line("single-node xgboost", single)
    print(f"{'ratio, ours / single-node':34}{s / n:6.2f} x (target: at most 2.00 x)")


if __name__ == "__main__":
    main()
