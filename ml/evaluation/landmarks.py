"""Model quality per landmark: the population a care manager's list is drawn from at
each point of pregnancy, which one overall figure hides."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.evaluation.metrics import at_capacity, calibration, calibration_error, classification_metrics

REPORTED = (
    "auroc",
    "auprc",
    "prevalence",
    "calibration_slope",
    "calibration_intercept",
    "ece",
    "ici",
    "e90",
    "ppv",
    "sensitivity",
    "flagged",
)


def landmark_metrics(scored: pd.DataFrame, capacity: float, order: list[str]) -> dict[str, dict[str, float]]:
    """Per landmark (in `order`, skipping those without rows): rows, positives, AUROC,
    AUPRC, calibration (slope, intercept, ICI, E90) and PPV/sensitivity at capacity (the top
    `capacity` share of the landmark's rows). A landmark whose rows have a single class gets
    counts only."""
    out: dict[str, dict[str, float]] = {}
    for landmark in order:
        part = scored[scored["landmark"] == landmark]
        if part.empty:
            continue
        labels, scores = part["label"].to_numpy(np.int64), part["score"].to_numpy(np.float64)
        row: dict[str, float] = {"rows": float(len(part)), "positives": float(labels.sum())}
        if 0 < labels.sum() < len(labels):
            metrics = classification_metrics(labels, scores)
            row |= {k: metrics[k] for k in ("auroc", "auprc", "prevalence")}
            row |= calibration(labels, scores)
            row |= calibration_error(labels, scores)
            row |= at_capacity(labels, scores, capacity)
        out[landmark] = row
    return out


def flat(per_landmark: dict[str, dict[str, float]], prefix: str) -> dict[str, float]:
    """`{prefix}{landmark}_{metric}` -> value, finite values only (for MLflow)."""
    return {
        f"{prefix}{landmark}_{name}": value
        for landmark, metrics in per_landmark.items()
        for name, value in metrics.items()
        if value is not None and np.isfinite(value)
    }
