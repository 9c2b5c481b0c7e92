"""A trained model as files (booster, fitted imputation, feature list) and what scores with it.

The same class serves the MLflow pyfunc model (pyfunc_model.py) and batch inference,
which loads the champion's files once and scores partitions with the booster's trees as
NumPy tables (ml/training/trees.py), adding each member's largest contributions
(ml/training/attribution.py, or TreeSHAP) as top factors (ml/inference/batches.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from ml.features.imputation import INDICATOR_SUFFIX, FittedImputation
from ml.training.attribution import PathAttribution
from ml.training.trees import TreeTables

BOOSTER, IMPUTATION, FEATURES = "booster.json", "imputation.json", "features.json"


@dataclass
class RiskScorer:
    booster: xgb.Booster
    imputation: FittedImputation

    @property
    def features(self) -> list[str]:
        """The feature-table columns the model reads."""
        return self.imputation.features

    @cached_property
    def _model(self) -> dict:
        return json.loads(self.booster.save_raw("json"))

    @cached_property
    def trees(self) -> TreeTables:
        return TreeTables.of(self._model)

    @cached_property
    def attribution(self) -> PathAttribution:
        return PathAttribution.of(self._model)

    @property
    def split_columns(self) -> list[str]:
        """The model columns some split of the booster reads, in contribution order."""
        return [self.imputation.model_columns[i] for i in self.trees.columns]

    @property
    def used_features(self) -> list[str]:
        """The features some split reads, directly or through their indicator.

        The others cannot change a score or a contribution, so batch scoring leaves them
        unread (the champion of the default cohort splits on 192 of its 671 columns).
        """
        split_on = set(self.split_columns)
        return [f for f in self.features if f in split_on or f"{f}{INDICATOR_SUFFIX}" in split_on]

    def save(self, folder: Path) -> dict[str, str]:
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(folder / BOOSTER)
        (folder / IMPUTATION).write_text(self.imputation.to_json())
        (folder / FEATURES).write_text(
            json.dumps({"features": self.features, "model_columns": self.imputation.model_columns}, indent=1)
        )
        return {name.split(".")[0]: str(folder / name) for name in (BOOSTER, IMPUTATION, FEATURES)}

    @classmethod
    def load(cls, booster: str | Path, imputation: str | Path) -> RiskScorer:
        model = xgb.Booster()
        model.load_model(str(booster))
        model.set_param({"nthread": 1})  # one scoring task per core
        return cls(model, FittedImputation.from_json(Path(imputation).read_text()))

    @classmethod
    def from_folder(cls, folder: Path) -> RiskScorer:
        """A downloaded MLflow model: its artifacts sit under artifacts/."""
        base = folder / "artifacts" if (folder / "artifacts").is_dir() else folder
        return cls.load(base / BOOSTER, base / IMPUTATION)

    def _check(self, frame: pd.DataFrame) -> None:
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise KeyError(f"{len(missing)} model features are missing from the input (first: {missing[0]})")

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        self._check(frame)
        model_input = self.imputation.apply_pandas(frame).to_numpy(np.float32)
        return self.booster.inplace_predict(model_input, missing=np.nan)
