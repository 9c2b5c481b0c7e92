"""Binary-classification metrics on numpy arrays.

AUPRC is average precision (the step-wise area), the figure scikit-learn and most
papers report.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


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
