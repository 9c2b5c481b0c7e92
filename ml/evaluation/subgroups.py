"""Metrics by subgroup (race and ethnicity, age band, rurality).

Cells with fewer episodes than `min_episodes`, or a single class, get no metrics: a
figure from a handful of episodes would be noise, and a small cell can identify people.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

COLUMNS = ["subgroup", "value", "episodes", "positives", "auroc", "auprc", "flagged_share", "sensitivity", "ppv"]


def subgroup_metrics(scored: pd.DataFrame, subgroups: list[str], min_episodes: int, cutoff: float) -> pd.DataFrame:
    """One row per (subgroup, value): episodes, positives, AUROC and AUPRC, and at the
    outreach cut-off the share flagged, sensitivity and PPV (NaN when too small)."""
    rows = []
    for column in subgroups:
        for value, part in scored.groupby(column, dropna=False, sort=True):
            labels, scores = part["label"].to_numpy(), part["score"].to_numpy()
            large = len(part) >= min_episodes
            enough = large and 0 < labels.sum() < len(labels)
            flagged = scores >= cutoff
            rows.append(
                {
                    "subgroup": column,
                    "value": str(value),
                    "episodes": len(part),
                    "positives": int(labels.sum()) if large else np.nan,
                    "auroc": float(roc_auc_score(labels, scores)) if enough else np.nan,
                    "auprc": float(average_precision_score(labels, scores)) if enough else np.nan,
                    "flagged_share": float(flagged.mean()) if large else np.nan,
                    "sensitivity": float(flagged[labels == 1].mean()) if enough else np.nan,
                    "ppv": float(labels[flagged].mean()) if large and flagged.any() else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
