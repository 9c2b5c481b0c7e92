"""What a Spark task runs to score Arrow batches.

Spark unpickles this in every Python worker, so it carries the model as NumPy tables
(ml/training/trees.py, ml/training/attribution.py) and imports neither xgboost nor
pandas nor MLflow: importing those took 5.7 s per worker here, which a daily scoring
job on a fresh cluster pays in full. Only exact (TreeSHAP) factors bring xgboost in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

from ml.features.imputation import FittedImputation
from ml.training.attribution import PathAttribution
from ml.training.recalibration import IDENTITY, Recalibration
from ml.training.trees import TreeTables


def feature_matrix(batch: pa.RecordBatch, features: list[str]) -> np.ndarray:
    """The batch's columns among `features` as one float64 matrix; nulls and absent columns are NaN."""
    values = np.full((batch.num_rows, len(features)), np.nan, dtype=np.float64, order="F")
    present = set(batch.schema.names)
    for i, name in enumerate(features):
        if name in present:
            values[:, i] = batch.column(name).to_numpy(zero_copy_only=False)
    return values


def value_text(value: float) -> str:
    """A feature's value as a care manager reads it: whole numbers whole, others to three
    significant digits, a missing value as such."""
    if np.isnan(value):
        return "not recorded"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.3g}"


def factor_texts(
    names: np.ndarray, raw: np.ndarray, model_input: np.ndarray, columns: np.ndarray, features: int,
    top: np.ndarray, contributions: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Per row and chosen factor: `<name>: <value> (raises risk)`. The value is the member's
    own, before any imputation; a missing-value indicator reads as whether it was recorded."""
    out = np.empty(top.shape, dtype=object)
    rows = np.arange(top.shape[0])
    for k in range(top.shape[1]):
        position = top[:, k]
        column = columns[position]  # the model column of each row's k-th factor
        credit = contributions[rows, position]
        for r in rows:
            c = column[r]
            indicator = c >= features
            shown = ("not recorded" if model_input[r, c] > 0 else "recorded") if indicator else value_text(raw[r, c])
            direction = "raises risk" if credit[r] > 0 else "lowers risk"
            out[r, k] = f"{names[position[r]]}: {shown} ({direction})"
    return out


def top_columns(contributions: np.ndarray, top: int) -> np.ndarray:
    """Per row, the positions of the `top` largest contributions, largest first."""
    top = min(top, contributions.shape[1])
    if top == 0:
        return np.empty((len(contributions), 0), dtype=np.intp)
    chosen = np.argpartition(-contributions, top - 1, axis=1)[:, :top]
    within = np.argsort(-np.take_along_axis(contributions, chosen, axis=1), axis=1, kind="stable")
    return np.take_along_axis(chosen, within, axis=1)


@dataclass(frozen=True)
class BatchScorer:
    imputation: FittedImputation
    trees: TreeTables
    attribution: PathAttribution
    keep: list[str]  # input columns passed through
    factor_names: np.ndarray  # readable name of each split column, in contribution order
    # each factor is written `<readable name>: <the member's value> (raises risk)`
    top_factors: int
    exact_booster: bytes | None = None  # the raw booster, only when factors are TreeSHAP's
    recalibration: Recalibration = IDENTITY
    landmark_column: str | None = None  # the input column naming each row's landmark, if any

    @property
    def output_names(self) -> list[str]:
        return [*self.keep, "risk_score", *(f"top_factor_{i + 1}" for i in range(self.top_factors))]

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            raw = feature_matrix(batch, self.imputation.features)
            model_input = self.imputation.apply_numpy(raw)
            leaves = self.trees.leaves(model_input[:, self.trees.columns])
            columns = [batch.column(c) for c in self.keep]
            landmarks = None
            if self.landmark_column is not None:
                landmarks = batch.column(self.landmark_column).to_numpy(zero_copy_only=False)
            columns.append(pa.array(self.recalibration.apply(self.trees.probability(leaves), landmarks)))
            if self.top_factors:
                contributions = self._contributions(model_input, leaves)
                top = top_columns(contributions, self.top_factors)
                named = factor_texts(
                    self.factor_names, raw, model_input, self.attribution.columns, raw.shape[1], top, contributions
                )
                for i in range(self.top_factors):  # a model with fewer split columns leaves the rest empty
                    column = named[:, i] if i < named.shape[1] else [None] * batch.num_rows
                    columns.append(pa.array(column, pa.string()))
            yield pa.RecordBatch.from_arrays(columns, names=self.output_names)

    def _contributions(self, model_input: np.ndarray, leaves: np.ndarray) -> np.ndarray:
        if self.exact_booster is None:
            return self.attribution.contributions(self.trees.node_ids(leaves))
        import xgboost as xgb

        matrix = xgb.DMatrix(model_input, feature_names=self.imputation.model_columns, missing=np.nan)
        return self._booster.predict(matrix, pred_contribs=True)[:, self.attribution.columns]

    @cached_property
    def _booster(self):
        import xgboost as xgb

        booster = xgb.Booster(model_file=bytearray(self.exact_booster))
        booster.set_param({"nthread": 1})  # one scoring task per core
        return booster
