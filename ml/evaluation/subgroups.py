"""Metrics by subgroup (race and ethnicity, age band, rurality, language).

Who is flagged is decided on the whole frame (the top `capacity` share by score, as a
day's list is), then read per subgroup: a subgroup's sensitivity is the share of its
positives the list would reach. Observed/expected compares the subgroup's label rate with
its mean predicted risk: above 1 the model under-predicts its risk.

Cells with fewer rows than `min_rows`, or a single class, get no metrics: a figure from a
handful of episodes would be noise, and a small cell can identify people.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from ml.evaluation.metrics import capacity_flags

COLUMNS = [
    "subgroup",
    "value",
    "episodes",
    "positives",
    "auroc",
    "auprc",
    "observed",
    "expected",
    "observed_expected",
    "flagged_share",
    "sensitivity",
    "ppv",
]


def subgroup_metrics(scored: pd.DataFrame, subgroups: list[str], min_rows: int, capacity: float) -> pd.DataFrame:
    """One row per (subgroup, value): rows (`episodes`: landmark rows), positives, AUROC,
    AUPRC, observed and expected rates and their ratio, and at capacity the share flagged,
    sensitivity and PPV (NaN when too small)."""
    flagged_all = capacity_flags(scored["score"].to_numpy(), capacity)
    rows = []
    for column in subgroups:
        if column not in scored.columns:
            continue
        for value, index in scored.groupby(column, dropna=False, sort=True).indices.items():
            part = scored.iloc[index]
            labels, scores = part["label"].to_numpy(), part["score"].to_numpy()
            flagged = flagged_all[index]
            large = len(part) >= min_rows
            enough = large and 0 < labels.sum() < len(labels)
            observed, expected = float(labels.mean()), float(scores.mean())
            rows.append(
                {
                    "subgroup": column,
                    "value": str(value),
                    "episodes": len(part),
                    "positives": int(labels.sum()) if large else np.nan,
                    "auroc": float(roc_auc_score(labels, scores)) if enough else np.nan,
                    "auprc": float(average_precision_score(labels, scores)) if enough else np.nan,
                    "observed": observed if large else np.nan,
                    "expected": expected if large else np.nan,
                    "observed_expected": observed / expected if large and expected > 0 else np.nan,
                    "flagged_share": float(flagged.mean()) if large else np.nan,
                    "sensitivity": float(flagged[labels == 1].mean()) if enough else np.nan,
                    "ppv": float(labels[flagged].mean()) if large and flagged.any() else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
