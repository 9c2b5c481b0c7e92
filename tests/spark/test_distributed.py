"""xgboost trained across Spark tasks learns what single-node xgboost learns from the
same rows: labels, missing values and parameter names reach every worker intact,
whatever the partitioning."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from pyspark.sql import functions as F

from ml.training import estimator

pytestmark = [pytest.mark.spark]

PARAMS = {"n_estimators": 15, "max_depth": 3, "learning_rate": 0.2, "reg_lambda": 2.0, "min_child_weight": 2.0}
COLUMNS = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def rows(spark):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, len(COLUMNS)))
    x[rng.random(x.shape) < 0.25] = np.nan
    y = (np.nan_to_num(x[:, 0]) - np.nan_to_num(x[:, 2]) + rng.normal(size=len(x)) > 0).astype(float)
    rows = [(float(label), [float(v) for v in values]) for label, values in zip(y, x, strict=True)]
    frame = spark.createDataFrame(rows, "label double, features array<float>")
    single = xgb.XGBClassifier(tree_method="hist", random_state=7, **PARAMS).fit(x, y)
    return frame, x.astype(np.float32), single.predict_proba(x)[:, 1]


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param(lambda f: f.repartition(2), id="two partitions"),
        pytest.param(lambda f: f.withColumn("k", F.lit(1)).repartition(2, "k").drop("k"), id="one partition empty"),
        pytest.param(lambda f: f.repartition(5), id="more partitions than task slots"),
    ],
)
def test_the_same_model_as_single_node_xgboost(rows, layout):
    frame, x, expected = rows
    booster = estimator.fit(layout(frame), PARAMS, COLUMNS, seed=7)
    assert booster.feature_names == COLUMNS
    assert booster.num_boosted_rounds() == PARAMS["n_estimators"]
    np.testing.assert_allclose(estimator.predict(booster, x), expected, atol=1e-6)


def test_the_workers_chatter_only_when_verbose(capsys, monkeypatch):
    """xgboost prints "Task N got rank N" from every worker on every fit, through its log
    callback into the worker's stdout: dropped unless --verbose. One worker run here, in
    this process, where its output can be read (Spark's Python workers write to the stdout
    the session started with)."""
    import pyarrow as pa
    import pyspark
    from xgboost.tracker import RabitTracker

    from ml.training import distributed

    class Partition:
        def partitionId(self):
            return 0

    monkeypatch.setattr(pyspark.TaskContext, "get", staticmethod(lambda: Partition()))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 2)).astype(np.float32)
    batch = pa.RecordBatch.from_pydict(
        {distributed.LABEL: (x[:, 0] > 0).astype(float), distributed.MATRIX: [list(r) for r in x]}
    )
    params, rounds = distributed.booster_params({"n_estimators": 2, "max_depth": 2}, 7, threads=1)

    def one_fit(quiet: bool) -> str:
        tracker = RabitTracker(n_workers=1, host_ip="127.0.0.1", sortby="task")
        tracker.start()
        args = tracker.worker_args() | {"n_workers": 1}
        capsys.readouterr()
        out = list(
            distributed.train_partition(iter([batch]), tracker=args, params=params, rounds=rounds, width=2, quiet=quiet)
        )
        tracker.wait_for()
        assert len(out) == 1, "rank 0 yields the booster"
        return capsys.readouterr().out

    assert "got rank" not in one_fit(quiet=True)
    assert "got rank" in one_fit(quiet=False), "the chatter this hides is really there"
