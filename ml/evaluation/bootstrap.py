"""Paired, seeded, cluster bootstrap for comparing two models on the same rows.

Both models' scores are kept side by side and every replicate reweights the same rows for
both, so what the interval measures is the difference between the models, not the
holdout's sampling noise twice over. Rows are resampled by cluster (the member): the
landmark rows of one pregnancy, and a member's pregnancies, are not independent.

A replicate is a vector of multinomial weights over clusters, not an index array, so
every metric is a weighted sum over rows sorted once per model: 1,000 replicates of
AUROC on 9,000 rows take well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METRICS = ("auroc", "auprc")


@dataclass(frozen=True)
class Interval:
    estimate: float  # on the rows as they are (every weight 1)
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}

    def __str__(self) -> str:
        return f"{self.estimate:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


def replicate_weights(clusters: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """(replicates + 1, rows) weights: row 0 is the sample itself (all ones), then one
    multinomial draw over clusters per replicate, each row taking its cluster's count."""
    codes, index = np.unique(clusters, return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(codes), np.full(len(codes), 1 / len(codes)), size=replicates)
    return np.vstack([np.ones(len(index)), counts[:, index]]).astype(np.float64)


def _tie_groups(sorted_scores: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])


def weighted_auroc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC per row of `weights` (ties count one half, as scikit-learn's). NaN where a
    replicate has no weight on one class."""
    order = np.argsort(scores, kind="stable")
    starts = _tie_groups(scores[order])
    w = weights[:, order]
    positive = labels[order].astype(bool)
    pos = np.add.reduceat(np.where(positive, w, 0.0), starts, axis=1)
    neg = np.add.reduceat(np.where(positive, 0.0, w), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))


def weighted_auprc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average precision per row of `weights`: precision at each distinct threshold,
    weighted by the recall it adds (scikit-learn's definition)."""
    order = np.argsort(-scores, kind="stable")
    starts = _tie_groups(scores[order])
    w = weights[:, order]
    positive = labels[order].astype(bool)
    tp = np.cumsum(np.add.reduceat(np.where(positive, w, 0.0), starts, axis=1), axis=1)
    fp = np.cumsum(np.add.reduceat(np.where(positive, 0.0, w), starts, axis=1), axis=1)
    gained = np.diff(tp, axis=1, prepend=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        return (gained * precision).sum(axis=1) / tp[:, -1]


def weighted_metric(name: str, labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    if name == "auroc":
        return weighted_auroc(labels, scores, weights)
    if name == "auprc":
        return weighted_auprc(labels, scores, weights)
    raise ValueError(f"no bootstrap for metric '{name}' (known: {', '.join(METRICS)})")


def at_cutoff(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray, cutoff: float) -> dict[str, np.ndarray]:
    """PPV and sensitivity of flagging every score >= `cutoff`, per row of `weights`."""
    flagged = scores >= cutoff
    positive = labels.astype(bool)
    hits = weights[:, flagged & positive].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "ppv": hits / weights[:, flagged].sum(axis=1),
            "sensitivity": hits / weights[:, positive].sum(axis=1),
        }


def interval(differences: np.ndarray, confidence: float) -> Interval:
    """Percentile interval of replicates 1.. around replicate 0's value; replicates where
    the metric is undefined (a class drawn away) are left out."""
    estimate, draws = float(differences[0]), differences[1:]
    draws = draws[np.isfinite(draws)]
    if not np.isfinite(estimate) or len(draws) == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return Interval(estimate, float(low), float(high))
