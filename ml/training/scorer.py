"""A trained model as files (booster, fitted imputation, feature list) and what scores with it.

The same class serves the MLflow pyfunc model (pyfunc_model.py) and batch inference,
which loads the champion's files once and scores partitions with it, adding each
member's largest contributions (xgboost's SHAP values) for the top factors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from ml.features.imputation import FittedImputation

BOOSTER, IMPUTATION, FEATURES = "booster.json", "imputation.json", "features.json"


@dataclass
class RiskScorer:
    booster: xgb.Booster
    imputation: FittedImputation

    @property
    def features(self) -> list[str]:
        """The feature-table columns the model reads."""
        return self.imputation.features

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

    def _matrix(self, frame: pd.DataFrame) -> xgb.DMatrix:
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise KeyError(f"{len(missing)} model features are missing from the input (first: {missing[0]})")
        model_input = self.imputation.apply_pandas(frame[self.features])
        return xgb.DMatrix(
            model_input.to_numpy(np.float32), feature_names=self.imputation.model_columns, missing=np.nan
        )

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(self._matrix(frame))

    def predict_with_factors(self, frame: pd.DataFrame, top: int) -> tuple[np.ndarray, list[list[str]]]:
        """Scores and, per row, the `top` model columns that raised the score most."""
        matrix = self._matrix(frame)
        scores = self.booster.predict(matrix)
        contributions = self.booster.predict(matrix, pred_contribs=True)[:, :-1]  # last column: bias
        names = np.array(self.imputation.model_columns)
        order = np.argsort(-contributions, axis=1, kind="stable")[:, :top]
        return scores, [list(names[row]) for row in order]
