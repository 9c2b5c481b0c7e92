"""What the champion's performance should be on predictions whose outcomes are not in yet,
from the scores alone (confidence-based performance estimation).

The assumption, stated wherever the figures are shown: the scores are calibrated on the
population now scored (each prediction's risk is the probability of its label). Then each
row contributes its risk to the positives and one minus it to the negatives, and the
expected AUROC, and the expected PPV of who was flagged, follow. Where the population moved
in ways that break calibration these estimates are wrong in the same direction as the
scores; drift checks say when to doubt them, and realised metrics replace them once the
outcomes are in.
"""

from __future__ import annotations

import numpy as np


def expected_auroc(scores: np.ndarray) -> float:
    """Expected AUROC if each row is positive with probability equal to its score: the
    chance a random positive outscores a random negative, ties counting one half."""
    p = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    if len(p) < 2 or p.sum() == 0 or (1 - p).sum() == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    s, pos, neg = p[order], p[order], 1 - p[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos_group, neg_group = np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)
    below = np.cumsum(neg_group) - neg_group
    # a row is never paired with itself
    within = np.add.reduceat(pos * neg, starts)
    pairs = (pos_group * (below + 0.5 * neg_group)).sum() - 0.5 * within.sum()
    return float(pairs / (pos.sum() * neg.sum() - (pos * neg).sum()))


def expected_ppv(scores: np.ndarray, flagged: np.ndarray) -> float:
    """Expected share of the flagged who go on to the outcome: their mean risk."""
    scores = np.asarray(scores, dtype=np.float64)
    flagged = np.asarray(flagged, dtype=bool)
    return float(scores[flagged].mean()) if flagged.any() else float("nan")
