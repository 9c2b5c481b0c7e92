"""Imputation learned on the training split only, saved with the model, and applied the
same way in Spark (training, batch scoring) and in pandas (the MLflow model).

`leave_missing` keeps the gap for the trees and adds a `<feature>__missing` column
(unless `indicator: false`; any strategy may ask for one with `indicator: true`), for
features that are missing in the training split (an indicator that is always zero in
training teaches the model nothing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

# Batch scoring unpickles this module in every Spark Python worker, and the registered model
# loads it where Spark is absent: it imports pyspark and pandas only where it uses them.
if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame

    from ml.config.loader import FeatureConfig

INDICATOR_SUFFIX = "__missing"


@dataclass(frozen=True)
class Rule:
    strategy: str
    value: float | None  # the fill learned on the training split (None: leave missing)
    indicator: bool = False


@dataclass(frozen=True)
class FittedImputation:
    rules: dict[str, Rule]
    notes: dict[str, str] = field(default_factory=dict)  # e.g. a feature all-missing in training

    @property
    def features(self) -> list[str]:
        return list(self.rules)

    @property
    def indicators(self) -> list[str]:
        return [f"{name}{INDICATOR_SUFFIX}" for name, rule in self.rules.items() if rule.indicator]

    @property
    def model_columns(self) -> list[str]:
        """What the model sees, in order: the features, then the indicators."""
        return self.features + self.indicators

    # ---- applying
    def spark_columns(self) -> list[Column]:
        from pyspark.sql import functions as F

        columns = []
        for name, rule in self.rules.items():
            col = F.col(name).cast("double")
            columns.append((col if rule.value is None else F.coalesce(col, F.lit(rule.value))).alias(name))
        for name, rule in self.rules.items():
            if rule.indicator:
                columns.append(F.col(name).isNull().cast("double").alias(f"{name}{INDICATOR_SUFFIX}"))
        return columns

    @cached_property
    def _fill(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions of filled features, their fills, and positions that get an indicator."""
        rules = list(self.rules.values())
        filled = np.array([i for i, r in enumerate(rules) if r.value is not None], dtype=np.intp)
        values = np.array([rules[i].value for i in filled], dtype=np.float64)
        flagged = np.array([i for i, r in enumerate(rules) if r.indicator], dtype=np.intp)
        return filled, values, flagged

    def apply_numpy(self, values: np.ndarray) -> np.ndarray:
        """Model input (float32, `model_columns` order) from features in `features` order, NaN = missing."""
        filled, fills, flagged = self._fill
        missing = np.isnan(values)
        out = np.empty((values.shape[0], len(self.rules) + len(flagged)), dtype=np.float32)
        out[:, : len(self.rules)] = values
        if filled.size:
            out[:, filled] = np.where(missing[:, filled], fills, values[:, filled])
        out[:, len(self.rules) :] = missing[:, flagged]
        return out

    def apply_pandas(self, frame: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        values = frame[self.features].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64, na_value=np.nan)
        return pd.DataFrame(self.apply_numpy(values), columns=self.model_columns, index=frame.index)

    # ---- saving with the model
    def to_json(self) -> str:
        return json.dumps({"rules": {n: vars(r) for n, r in self.rules.items()}, "notes": self.notes}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> FittedImputation:
        data = json.loads(text)
        return cls({n: Rule(**r) for n, r in data["rules"].items()}, data.get("notes", {}))


def fit(train: DataFrame, features: list[str], config: FeatureConfig) -> FittedImputation:
    """Learn every fill from the training split (one pass over it)."""
    from pyspark.sql import functions as F

    strategies = {name: config.imputation_for(name) for name in features}
    aggregates = []
    for name, imputation in strategies.items():
        col = F.col(name).cast("double")
        aggregates.append(F.sum(col.isNull().cast("int")).alias(f"{name}|missing"))
        if imputation.strategy == "mean":
            aggregates.append(F.avg(col).alias(f"{name}|fill"))
        elif imputation.strategy == "median":
            aggregates.append(F.percentile(col, 0.5).alias(f"{name}|fill"))
        elif imputation.strategy == "most_frequent":
            aggregates.append(F.mode(col, deterministic=True).alias(f"{name}|fill"))
    stats = train.agg(*aggregates).first().asDict()
    rules, notes = {}, {}
    for name, imputation in strategies.items():
        missing = stats[f"{name}|missing"] > 0
        indicator = missing and imputation.wants_indicator
        if imputation.strategy == "leave_missing":
            rules[name] = Rule("leave_missing", None, indicator=indicator)
            continue
        value = imputation.value if imputation.strategy == "constant" else stats[f"{name}|fill"]
        if value is None or (isinstance(value, float) and np.isnan(value)):
            value = 0.0
            notes[name] = f"{imputation.strategy}: missing in every training row; filled with 0"
        rules[name] = Rule(imputation.strategy, float(value), indicator=indicator)
    return FittedImputation(rules, notes)
