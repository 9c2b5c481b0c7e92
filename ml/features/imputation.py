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

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

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
        columns = []
        for name, rule in self.rules.items():
            col = F.col(name).cast("double")
            columns.append((col if rule.value is None else F.coalesce(col, F.lit(rule.value))).alias(name))
        for name, rule in self.rules.items():
            if rule.indicator:
                columns.append(F.col(name).isNull().cast("double").alias(f"{name}{INDICATOR_SUFFIX}"))
        return columns

    def apply_pandas(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for name, rule in self.rules.items():
            values = pd.to_numeric(frame[name], errors="coerce").astype("float64")
            out[name] = values if rule.value is None else values.fillna(rule.value)
        for name, rule in self.rules.items():
            if rule.indicator:
                out[f"{name}{INDICATOR_SUFFIX}"] = frame[name].isna().astype("float64")
        return pd.DataFrame(out, index=frame.index)

    # ---- saving with the model
    def to_json(self) -> str:
        return json.dumps({"rules": {n: vars(r) for n, r in self.rules.items()}, "notes": self.notes}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> FittedImputation:
        data = json.loads(text)
        return cls({n: Rule(**r) for n, r in data["rules"].items()}, data.get("notes", {}))


def fit(train: DataFrame, features: list[str], config: FeatureConfig) -> FittedImputation:
    """Learn every fill from the training split (one pass over it)."""
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
