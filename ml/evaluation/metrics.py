"""Binary-classification metrics on numpy arrays.

AUPRC is average precision (the step-wise area), the figure scikit-learn and most
papers report.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from ml.evaluation.logistic import logistic_fit


def _top(scores: np.ndarray, share: float) -> np.ndarray:
    k = max(1, round(len(scores) * share))
    return np.argsort(-scores, kind="stable")[:k]


def precision_at(labels: np.ndarray, scores: np.ndarray, share: float) -> float:
    return float(labels[_top(scores, share)].mean())


def recall_at(labels: np.ndarray, scores: np.ndarray, share: float) -> float:
    positives = labels.sum()
    return float(labels[_top(scores, share)].sum() / positives) if positives else 0.0


def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """AUROC, AUPRC, log loss, Brier score, and precision/recall in the top 5% and 10%."""
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.clip(np.asarray(scores, dtype=np.float64), 1e-7, 1 - 1e-7)
    if labels.min() == labels.max():
        raise ValueError("metrics need both classes among the labels")
    return {
        "auroc": float(roc_auc_score(labels, scores)),
        "auprc": float(average_precision_score(labels, scores)),
        "log_loss": float(log_loss(labels, scores)),
        "brier": float(brier_score_loss(labels, scores)),
        "prevalence": float(labels.mean()),
        "precision_top5": precision_at(labels, scores, 0.05),
        "recall_top5": recall_at(labels, scores, 0.05),
        "precision_top10": precision_at(labels, scores, 0.10),
        "recall_top10": recall_at(labels, scores, 0.10),
    }


def calibration(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> dict[str, float]:
    """Calibration slope and intercept (logistic recalibration of the score's logit: slope 1
    and intercept 0 are perfect; the intercept is calibration-in-the-large, fitted with the
    slope held at 1) and the expected calibration error over `bins` equal-count bins."""
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.clip(np.asarray(scores, dtype=np.float64), 1e-6, 1 - 1e-6)
    logit = np.log(scores / (1 - scores))
    slope = logistic_fit(logit, labels)[1]
    intercept = 0.0
    for _ in range(50):  # Newton on a: mean(y) = mean(sigmoid(a + logit))
        p = 1 / (1 + np.exp(-(intercept + logit)))
        step = (labels.sum() - p.sum()) / max((p * (1 - p)).sum(), 1e-12)
        intercept += step
        if abs(step) < 1e-10:
            break
    order = np.argsort(scores, kind="stable")
    ece = 0.0
    for part in np.array_split(order, min(bins, len(order))):
        if len(part):
            ece += len(part) / len(order) * abs(labels[part].mean() - scores[part].mean())
    return {"calibration_slope": float(slope), "calibration_intercept": float(intercept), "ece": float(ece)}


def capacity_flags(scores: np.ndarray, share: float) -> np.ndarray:
    """The top `share` of rows by score (at least one): who care management can reach."""
    scores = np.asarray(scores, dtype=np.float64)
    flagged = np.zeros(len(scores), dtype=bool)
    if len(scores):
        k = max(1, math.ceil(share * len(scores)))
        flagged[np.argsort(-scores, kind="stable")[:k]] = True
    return flagged


def capacity_share_flagged(scores: np.ndarray, share: float) -> np.ndarray:
    """Each row's chance of being in the top `share` (at least one row) when ties at the
    cut are broken at random: 1 above it, the free places shared among the tied rows.
    A model with few distinct scores (a constant one at the extreme) then reaches each
    group in proportion, not whichever rows happen to come first."""
    scores = np.asarray(scores, dtype=np.float64)
    if not len(scores):
        return np.zeros(0)
    k = max(1, math.ceil(share * len(scores)))
    cut = np.sort(scores)[::-1][k - 1]
    above, tied = scores > cut, scores == cut
    return above + tied * (k - above.sum()) / tied.sum()


def at_capacity(labels: np.ndarray, scores: np.ndarray, share: float) -> dict[str, float]:
    """PPV and sensitivity of reaching the top `share` of rows by score (the outreach tiers'
    capacity, inference.capacity_share), and how many that is."""
    labels = np.asarray(labels, dtype=np.int64)
    flagged = capacity_flags(scores, share)
    positives = labels.sum()
    return {
        "flagged": float(flagged.sum()),
        "ppv": float(labels[flagged].mean()) if flagged.any() else float("nan"),
        "sensitivity": float(labels[flagged].sum() / positives) if positives else float("nan"),
    }


def smoothed_calibration(labels: np.ndarray, scores: np.ndarray, at: np.ndarray | None = None) -> np.ndarray:
    """The observed rate as a smooth function of the predicted risk (Gaussian-kernel local
    average on the logit scale, Silverman's bandwidth), at `at` (default: each score)."""
    labels = np.asarray(labels, dtype=np.float64)
    x = _logit(np.asarray(scores, dtype=np.float64))
    points = x if at is None else _logit(np.asarray(at, dtype=np.float64))
    bandwidth = max(1.06 * x.std() * len(x) ** -0.2, 1e-3)
    out = np.empty(len(points))
    for start in range(0, len(points), 512):  # bounded memory: 512 points x n rows at a time
        z = (points[start : start + 512, None] - x[None, :]) / bandwidth
        w = np.exp(-0.5 * z * z)
        out[start : start + 512] = (w @ labels) / np.maximum(w.sum(axis=1), 1e-12)
    return out


def calibration_error(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ICI and E90 (Austin and Steyerberg, Stat Med 2019): the mean and the 90th percentile of
    |smoothed observed rate - predicted risk| over the rows."""
    scores = np.asarray(scores, dtype=np.float64)
    gap = np.abs(smoothed_calibration(labels, scores) - scores)
    return {"ici": float(gap.mean()), "e90": float(np.quantile(gap, 0.9))}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))
