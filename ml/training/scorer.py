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
from ml.training.recalibration import IDENTITY, Recalibration
from ml.training.trees import TreeTables

BOOSTER, IMPUTATION, FEATURES = "booster.json", "imputation.json", "features.json"
RECALIBRATION, REFERENCE = "recalibration.json", "reference_scores.json"
LANDMARK = "landmark"  # the optional input column the recalibration reads
QUANTILES = np.linspace(0.0, 1.0, 1001)


@dataclass(frozen=True)
class ScoreReference:
    """Quantiles of the model's (recalibrated) scores on its holdout, the newest months it
    was judged on: a tier of the top 10% starts at its 90th percentile."""

    quantiles: tuple[float, ...]
    rows: int

    @classmethod
    def of(cls, scores: np.ndarray) -> ScoreReference:
        return cls(tuple(float(q) for q in np.quantile(np.asarray(scores, dtype=np.float64), QUANTILES)), len(scores))

    def cutoff(self, top_share: float) -> float:
        """The lowest score in the top `top_share` of the reference."""
        return float(np.interp(1.0 - top_share, QUANTILES, self.quantiles))

    def to_json(self) -> str:
        return json.dumps({"quantiles": list(self.quantiles), "rows": self.rows})

    @classmethod
    def from_json(cls, text: str) -> ScoreReference:
        data = json.loads(text)
        return cls(tuple(data["quantiles"]), int(data["rows"]))


@dataclass
class RiskScorer:
    booster: xgb.Booster
    imputation: FittedImputation
    recalibration: Recalibration = IDENTITY
    reference: ScoreReference | None = None

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
        (folder / RECALIBRATION).write_text(self.recalibration.to_json())
        files = [BOOSTER, IMPUTATION, FEATURES, RECALIBRATION]
        if self.reference is not None:
            (folder / REFERENCE).write_text(self.reference.to_json())
            files.append(REFERENCE)
        return {name.split(".")[0]: str(folder / name) for name in files}

    @classmethod
    def load(cls, booster: str | Path, imputation: str | Path) -> RiskScorer:
        """From the booster and imputation files, with the recalibration and reference saved
        beside them (a model saved before either existed scores without)."""
        model = xgb.Booster()
        model.load_model(str(booster))
        model.set_param({"nthread": 1})  # one scoring task per core
        folder = Path(booster).parent
        recalibration = folder / RECALIBRATION
        reference = folder / REFERENCE
        return cls(
            model,
            FittedImputation.from_json(Path(imputation).read_text()),
            Recalibration.from_json(recalibration.read_text()) if recalibration.exists() else IDENTITY,
            ScoreReference.from_json(reference.read_text()) if reference.exists() else None,
        )

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
        """Recalibrated risks; by the row's landmark when the frame has one (LANDMARK)."""
        self._check(frame)
        model_input = self.imputation.apply_pandas(frame).to_numpy(np.float32)
        raw = self.booster.inplace_predict(model_input, missing=np.nan)
        landmarks = frame[LANDMARK].to_numpy() if LANDMARK in frame.columns else None
        return self.recalibration.apply(raw, landmarks)
