"""Recalibration: a per-landmark intercept with one shared slope on the model's log-odds,
fitted on the newest censoring-safe months (the `calibration` part: validation members'
recent episodes, never the holdout).

    P(label) = sigmoid(intercept[landmark] + slope * logit(raw score))

Why: trees fitted on older months are miscalibrated on the population scored next (the
label's prevalence moves with the calendar and differs by landmark: at week 28 less is
left to happen than at identification), and tier cut-offs, PPV and the observed/expected
ratios a care manager reads assume calibrated risks. One slope keeps the ranking within a
landmark exactly the model's; the intercepts are shrunk towards the pooled one (a normal
prior, sd PRIOR_SD on the logit scale), so a landmark with few rows moves little.

Only NumPy: batch scoring applies it in Spark workers that import nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ml.evaluation.logistic import logistic_fit

PRIOR_SD = 0.5


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class Recalibration:
    slope: float = 1.0
    pooled_intercept: float = 0.0  # for rows of no landmark, or of one the fit never saw
    intercepts: dict[str, float] = field(default_factory=dict)
    rows: int = 0  # rows it was fitted on

    def apply(self, scores: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        intercept = np.full(len(scores), self.pooled_intercept)
        if landmarks is not None:
            landmarks = np.asarray(landmarks, dtype=object)
            for name, value in self.intercepts.items():
                intercept[landmarks == name] = value
        return 1.0 / (1.0 + np.exp(-(intercept + self.slope * _logit(scores))))

    def to_json(self) -> str:
        return json.dumps(
            {
                "slope": self.slope,
                "pooled_intercept": self.pooled_intercept,
                "intercepts": self.intercepts,
                "rows": self.rows,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Recalibration:
        data = json.loads(text)
        return cls(float(data["slope"]), float(data["pooled_intercept"]), dict(data["intercepts"]), int(data["rows"]))

    def params(self) -> dict[str, float]:
        """Flat, for MLflow: slope, pooled intercept and one intercept per landmark."""
        return {
            "recalibration_slope": round(self.slope, 4),
            "recalibration_pooled_intercept": round(self.pooled_intercept, 4),
            **{f"recalibration_intercept_{k}": round(v, 4) for k, v in self.intercepts.items()},
        }


IDENTITY = Recalibration()


def fit(scores: np.ndarray, labels: np.ndarray, landmarks: np.ndarray) -> Recalibration:
    """Fit by maximum a posteriori (Newton): the pooled intercept and the slope first, then
    each landmark's intercept with the slope held, shrunk towards the pooled intercept."""
    x = _logit(scores)
    y = np.asarray(labels, dtype=np.float64)
    landmarks = np.asarray(landmarks, dtype=object)
    if len(y) == 0 or y.min() == y.max():
        return IDENTITY
    a, b = logistic_fit(x, y)
    intercepts = {}
    for name in sorted(set(landmarks)):
        part = landmarks == name
        intercepts[str(name)] = _shrunk_intercept(a + b * x[part], y[part], a)
    return Recalibration(float(b), float(a), intercepts, len(y))


def _shrunk_intercept(offset: np.ndarray, y: np.ndarray, prior_mean: float) -> float:
    """The intercept c maximising the likelihood of y ~ sigmoid(offset - prior_mean + c) with
    c ~ N(prior_mean, PRIOR_SD^2)."""
    c = prior_mean
    base = offset - prior_mean
    for _ in range(100):
        p = 1 / (1 + np.exp(-(base + c)))
        gradient = (y - p).sum() - (c - prior_mean) / PRIOR_SD**2
        hessian = (p * (1 - p)).sum() + 1 / PRIOR_SD**2
        step = gradient / hessian
        c += step
        if abs(step) < 1e-10:
            break
    return float(c)
