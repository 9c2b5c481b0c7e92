"""Batch scoring's own tree walk and attribution against xgboost's: the NumPy tables must
reach the leaves xgboost reaches, give its probabilities, and credit features as its
approx_contribs does; the columns they report must be the ones splits read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import xgboost as xgb

from ml.errors import ModelError
from ml.features.imputation import FittedImputation, Rule
from ml.inference.batches import BatchScorer, top_columns, value_text
from ml.training.scorer import RiskScorer
from ml.training.trees import TreeTables

NAMES = [f"f{i}" for i in range(12)]


def _rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(NAMES)))
    x[rng.random(x.shape) < 0.25] = np.nan  # missing values take each split's default branch
    x[:, 3] = np.round(x[:, 3])  # values equal to split conditions: xgboost sends them right
    x[:, 10], x[:, 11] = 1.0, np.nan  # nothing to split on: columns the scorer never reads
    return x


@pytest.fixture(scope="module")
def scorer():
    x = _rows(3000, 3)
    noise = np.random.default_rng(4).normal(size=len(x))
    signal = np.nan_to_num(x[:, 0]) + 0.5 * np.isnan(x[:, 1]) - np.nan_to_num(x[:, 3]) + noise
    rules = {name: Rule("leave_missing", None) for name in NAMES}
    rules["f2"] = Rule("mean", 0.25)
    rules["f1"] = Rule("leave_missing", None, indicator=True)
    imputation = FittedImputation(rules)
    params = {"objective": "binary:logistic", "max_depth": 5, "eta": 0.3, "colsample_bytree": 0.5, "seed": 1}
    train = xgb.DMatrix(imputation.apply_numpy(x), (signal > 0).astype(int), missing=np.nan)
    booster = xgb.train(params, train, 25)
    booster.feature_names = imputation.model_columns
    # new rows, so the comparisons are not limited to values the trees were grown on
    return RiskScorer(booster, imputation), imputation.apply_numpy(_rows(2000, 5))


def _matrix(model: RiskScorer, model_input: np.ndarray) -> xgb.DMatrix:
    return xgb.DMatrix(model_input, feature_names=model.imputation.model_columns, missing=np.nan)


def test_tree_walk_reaches_xgboosts_leaves_and_scores(scorer):
    model, model_input = scorer
    tables = model.trees
    assert len(tables.read) == 5
    assert any(
        len(t["left_children"]) < 2 ** (len(tables.read) + 1) - 1
        for t in model._model["learner"]["gradient_booster"]["model"]["trees"]
    ), "some leaves sit above the deepest level (padding exercised)"
    leaves = tables.leaves(model_input[:, tables.columns])
    expected = model.booster.predict(_matrix(model, model_input), pred_leaf=True).astype(np.int64)
    assert np.array_equal(tables.node_ids(leaves), expected)
    assert tables.probability(leaves) == pytest.approx(model.booster.predict(_matrix(model, model_input)), abs=1e-6)


def test_path_attribution_equals_xgboost_approx_contribs(scorer):
    model, model_input = scorer
    expected = model.booster.predict(_matrix(model, model_input), pred_contribs=True, approx_contribs=True)[:, :-1]
    leaves = model.trees.node_ids(model.trees.leaves(model_input[:, model.trees.columns]))
    ours = model.attribution.contributions(leaves)
    split = model.attribution.columns
    assert np.array_equal(split, model.trees.columns)
    assert len(split) < model_input.shape[1], "the test model leaves some columns unused"
    assert ours == pytest.approx(expected[:, split], abs=1e-5)
    unused = np.setdiff1d(np.arange(model_input.shape[1]), split)
    assert np.abs(expected[:, unused]).max() == 0, "columns no split reads contribute nothing"


def _batch_scorer(model: RiskScorer, exact: bool) -> BatchScorer:
    return BatchScorer(
        imputation=model.imputation,
        trees=model.trees,
        attribution=model.attribution,
        keep=["id"],
        factor_names=np.array([f"readable {c}" for c in model.split_columns], dtype=object),
        top_factors=3,
        exact_booster=bytes(model.booster.save_raw("json")) if exact else None,
    )


@pytest.mark.parametrize("exact", [False, True], ids=["approximate", "exact"])
def test_batch_scorer_gives_xgboosts_scores_and_top_factors(scorer, exact):
    model, _ = scorer
    raw = _rows(500, 9)
    used = model.used_features
    batch = pa.RecordBatch.from_arrays(
        [pa.array(np.arange(len(raw)))] + [pa.array(raw[:, NAMES.index(f)], from_pandas=True) for f in used],
        names=["id", *used],
    )
    [out] = list(_batch_scorer(model, exact)([batch]))
    assert out.schema.names == ["id", "risk_score", "top_factor_1", "top_factor_2", "top_factor_3"]
    matrix = _matrix(model, model.imputation.apply_numpy(raw))
    assert out.column("risk_score").to_numpy() == pytest.approx(model.booster.predict(matrix), abs=1e-6)
    contributions = model.booster.predict(matrix, pred_contribs=True, approx_contribs=not exact)
    top = top_columns(contributions[:, model.trees.columns], 3)
    names = np.array([f"readable {c}" for c in model.split_columns], dtype=object)[top]
    features = model.imputation.features
    for i in range(3):
        written = out.column(f"top_factor_{i + 1}").to_pylist()
        assert [w.split(": ")[0] for w in written] == names[:, i].tolist()
        for r, text in enumerate(written[:50]):  # the member's own value, before imputation
            column = model.imputation.model_columns[model.trees.columns[top[r, i]]]
            credit = contributions[r, model.trees.columns[top[r, i]]]
            value = text.split(": ", 1)[1].rsplit(" (", 1)[0]
            if column in features:
                assert value == value_text(raw[r, NAMES.index(column)])
            else:
                assert value in ("recorded", "not recorded")
            assert text.endswith("(raises risk)" if credit > 0 else "(lowers risk)")


def test_a_factor_value_reads_as_written():
    assert [value_text(v) for v in (np.nan, 3.0, 1234.0, 0.123456, 38.25)] == [
        "not recorded", "3", "1,234", "0.123", "38.2"
    ]  # fmt: skip


def test_scoring_workers_import_neither_xgboost_nor_pandas_nor_mlflow(scorer):
    """What Spark unpickles in each Python worker must stay light (ml/inference/batches.py)."""
    import pickle

    payload = pickle.dumps(_batch_scorer(scorer[0], exact=False)).hex()
    probe = (
        "import pickle, sys; pickle.loads(bytes.fromhex(sys.stdin.read())); "
        "print(sorted(m for m in ('xgboost', 'pandas', 'mlflow', 'sklearn') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        input=payload,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert loaded.stdout.strip() == "[]"


def test_unsupported_objective_is_refused_by_name(scorer):
    model, _ = scorer
    changed = json.loads(json.dumps(model._model))
    changed["learner"]["objective"]["name"] = "reg:squarederror"
    with pytest.raises(ModelError, match="reg:squarederror is not supported"):
        TreeTables.of(changed)


def test_used_features_follow_the_splits_through_indicators(scorer):
    model, _ = scorer
    assert set(model.split_columns) <= set(model.imputation.model_columns)
    for column in model.split_columns:
        assert column.removesuffix("__missing") in model.used_features
    assert "f10" not in model.used_features and "f11" not in model.used_features


def test_top_columns_are_the_largest_first():
    contributions = np.array([[0.1, -2.0, 0.5, 0.3], [0.0, 0.0, -1.0, 4.0]])
    assert top_columns(contributions, 3).tolist() == [[2, 3, 0], [3, 0, 1]]
    assert top_columns(contributions, 9).shape == (2, 4)
