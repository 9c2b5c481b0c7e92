"""A one-variable logistic regression, in NumPy alone: the recalibration it fits is
applied in Spark scoring workers, which must not import scikit-learn or pandas
(ml/inference/batches.py)."""

from __future__ import annotations

import numpy as np


def logistic_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of a one-variable logistic regression by Newton's method."""
    a, b = 0.0, 1.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(a + b * x)))
        w = np.maximum(p * (1 - p), 1e-12)
        gradient = np.array([(y - p).sum(), ((y - p) * x).sum()])
        hessian = np.array([[w.sum(), (w * x).sum()], [(w * x).sum(), (w * x * x).sum()]])
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            break
        a, b = a + step[0], b + step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)
