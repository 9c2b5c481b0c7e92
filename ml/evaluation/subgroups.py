"""Metrics by subgroup (race and ethnicity, age band, rurality).

Cells with fewer episodes than `min_episodes`, or a single class, get no metrics: a
figure from a handful of episodes would be noise, and a small cell can identify people.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score


def subgroup_metrics(scored: pd.DataFrame, subgroups: list[str], min_episodes: int) -> pd.DataFrame:
    """One row per (subgroup, value): episodes, positives, AUROC and AUPRC (NaN when too small)."""
    rows = []
    for column in subgroups:
        for value, part in scored.groupby(column, dropna=False, sort=True):
            labels, scores = part["label"].to_numpy(), part["score"].to_numpy()
            enough = len(part) >= min_episodes and 0 < labels.sum() < len(labels)
            rows.append(
                {
                    "subgroup": column,
                    "value": str(value),
                    "episodes": len(part),
                    "positives": int(labels.sum()) if len(part) >= min_episodes else np.nan,
                    "auroc": float(roc_auc_score(labels, scores)) if enough else np.nan,
                    "auprc": float(average_precision_score(labels, scores)) if enough else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=["subgroup", "value", "episodes", "positives", "auroc", "auprc"])
