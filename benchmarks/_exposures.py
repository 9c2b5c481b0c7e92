"""Bounds for the quality benchmark from the generator's true exposures at the index date
(the oracle table's pre-index columns), each a HistGradientBoosting model fitted on the
training episodes and scored on the test episodes:

- every exposure known exactly;
- the same without race, which is not a model feature (by policy);
- every exposure as the feature table reveals it: each one predicted from the features
  out of fold (folds grouped by member) and used in place of the truth. What separates
  this bound from the race-blind one no model on these features can recover.

`revealed_cost` says where that is lost: the race-blind bound with only one exposure
replaced by its prediction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import GroupKFold, cross_val_predict

from ml.evaluation.metrics import classification_metrics

POLICY_EXCLUDED = ("race_ethnicity",)


def _revealed(truth: pd.DataFrame, features: np.ndarray, members: np.ndarray, seed: int) -> pd.DataFrame:
    folds = GroupKFold(n_splits=4)
    out = truth.copy()
    for name in truth.columns:
        values = truth[name].to_numpy()
        if set(np.unique(values)) <= {0.0, 1.0}:
            model = HistGradientBoostingClassifier(max_iter=150, random_state=seed)
            out[name] = cross_val_predict(model, features, values, cv=folds, groups=members, method="predict_proba")[
                :, 1
            ]
        else:
            model = HistGradientBoostingRegressor(max_iter=150, random_state=seed)
            out[name] = cross_val_predict(model, features, values, cv=folds, groups=members)
    return out


def exposure_bounds(
    truth: pd.DataFrame, features: np.ndarray, labels: np.ndarray, members: np.ndarray, test: np.ndarray, seed: int
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """`truth`: one row per episode (numeric columns), aligned with `features`, `labels`,
    `members` and the boolean `test` mask. Returns the bounds' test metrics and, per
    exposure, the AUROC the race-blind bound loses when only that one is revealed."""

    def bound(frame: pd.DataFrame) -> dict[str, float]:
        model = HistGradientBoostingClassifier(learning_rate=0.05, max_iter=300, max_depth=4, random_state=seed)
        model.fit(frame[~test], labels[~test])
        return classification_metrics(labels[test], model.predict_proba(frame[test])[:, 1])

    blind = truth.drop(columns=list(POLICY_EXCLUDED))
    revealed = _revealed(blind, features, members, seed)
    blind_bound = bound(blind)
    bounds = {
        "exposures known (ceiling)": bound(truth),
        "  the same, race-blind": blind_bound,
        "  as the features reveal them": bound(revealed),
    }
    cost = {}
    for name in blind.columns:
        one = blind.copy()
        one[name] = revealed[name]
        cost[name] = blind_bound["auroc"] - bound(one)["auroc"]
    return bounds, cost
