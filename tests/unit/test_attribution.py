"""Scoring's fast path against xgboost's own: the tabulated path attribution must give
what approx_contribs gives, and the columns it reports must be the ones splits read."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from ml.features.imputation import FittedImputation, Rule
from ml.training.attribution import PathAttribution
from ml.training.scorer import RiskScorer, top_columns


@pytest.fixture(scope="module")
def scorer():
    rng = np.random.default_rng(3)
    n, names = 3000, [f"f{i}" for i in range(12)]
    x = rng.normal(size=(n, len(names)))
    x[rng.random(x.shape) < 0.25] = np.nan  # missing values take each split's default branch
    x[:, 3] = np.round(x[:, 3])  # exact zeros must stay values, not become missing
    x[:, 10], x[:, 11] = 1.0, np.nan  # nothing to split on: columns the scorer never reads
    signal = np.nan_to_num(x[:, 0]) + 0.5 * np.isnan(x[:, 1]) - np.nan_to_num(x[:, 3]) + rng.normal(size=n)
    rules = {name: Rule("leave_missing", None) for name in names}
    rules["f2"] = Rule("mean", 0.25)
    rules["f1"] = Rule("leave_missing", None, indicator=True)
    imputation = FittedImputation(rules)
    model_input = imputation.apply_numpy(x)
    params = {"max_depth": 4, "eta": 0.3, "colsample_bytree": 0.5, "seed": 1}
    booster = xgb.train(params, xgb.DMatrix(model_input, (signal > 0).astype(int), missing=np.nan), 25)
    booster.feature_names = imputation.model_columns
    return RiskScorer(booster, imputation), model_input


def test_path_attribution_equals_xgboost_approx_contribs(scorer):
    model, model_input = scorer
    dense = xgb.DMatrix(model_input, feature_names=model.imputation.model_columns, missing=np.nan)
    expected = model.booster.predict(dense, pred_contribs=True, approx_contribs=True)[:, :-1]
    ours = PathAttribution.of(model.booster).contributions(model.booster, model.matrix(model_input))
    split = model.attribution.columns
    assert len(split) < model_input.shape[1], "the test model leaves some columns unused"
    assert ours == pytest.approx(expected[:, split], abs=1e-5)
    unused = np.setdiff1d(np.arange(model_input.shape[1]), split)
    assert np.abs(expected[:, unused]).max() == 0, "columns no split reads contribute nothing"


def test_exact_factors_over_the_split_columns_add_up_to_the_margin(scorer):
    model, model_input = scorer
    matrix = model.matrix(model_input)
    shap = model.contributions(matrix, exact=True)
    bias = model.booster.predict(matrix, pred_contribs=True)[:, -1]
    margin = model.booster.predict(matrix, output_margin=True)
    assert shap.sum(axis=1) + bias == pytest.approx(margin, abs=1e-4), "no contribution lies outside the splits"


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
