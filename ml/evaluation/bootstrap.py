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


def _by_group(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of `values`' columns per tie group; the columns themselves when no score ties
    (the usual case for a model's scores: summing each column alone costs a full pass)."""
    return values if len(starts) == values.shape[1] else np.add.reduceat(values, starts, axis=1)


def weighted_auroc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC per row of `weights` (ties count one half, as scikit-learn's). NaN where a
    replicate has no weight on one class."""
    order = np.argsort(scores, kind="stable")
    starts = _tie_groups(scores[order])
    w = weights[:, order]
    positive = labels[order].astype(bool)
    pos = _by_group(w * positive, starts)
    neg = _by_group(w * ~positive, starts)
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
    tp = np.cumsum(_by_group(w * positive, starts), axis=1)
    fp = np.cumsum(_by_group(w * ~positive, starts), axis=1)
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


def at_capacity(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray, share: float) -> dict[str, np.ndarray]:
    """PPV and sensitivity of reaching the top `share` of the (weighted) rows by score, per
    row of `weights`: each replicate sets its own threshold, as a day's list would."""
    order = np.argsort(-scores, kind="stable")
    w = weights[:, order]
    positive = labels[order].astype(bool)
    before = np.cumsum(w, axis=1) - w
    flagged = before < share * w.sum(axis=1, keepdims=True)
    hits = np.where(positive, w * flagged, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "ppv": hits / (w * flagged).sum(axis=1),
            "sensitivity": hits / np.where(positive, w, 0.0).sum(axis=1),
        }


def weighted_calibration(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Calibration intercept (slope held at 1: calibration-in-the-large) and slope (logistic
    recalibration of the log-odds) per row of `weights`, by Newton steps vectorised over the
    replicates."""
    x = np.log(np.clip(scores, 1e-6, 1 - 1e-6) / (1 - np.clip(scores, 1e-6, 1 - 1e-6)))
    y = labels.astype(np.float64)
    w = weights
    a = np.zeros(len(w))
    for _ in range(30):
        p = 1 / (1 + np.exp(-(a[:, None] + x)))
        step = (w * (y - p)).sum(axis=1) / np.maximum((w * p * (1 - p)).sum(axis=1), 1e-12)
        a += step
        if np.abs(step).max() < 1e-8:
            break
    c, b = np.zeros(len(w)), np.ones(len(w))
    for _ in range(50):
        p = 1 / (1 + np.exp(-(c[:, None] + b[:, None] * x)))
        v = w * np.maximum(p * (1 - p), 1e-12)
        g0, g1 = (w * (y - p)).sum(axis=1), (w * (y - p) * x).sum(axis=1)
        h00, h01, h11 = v.sum(axis=1), (v * x).sum(axis=1), (v * x * x).sum(axis=1)
        det = h00 * h11 - h01 * h01
        det = np.where(np.abs(det) < 1e-12, np.nan, det)
        dc, db = (h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det
        c, b = c + np.nan_to_num(dc), b + np.nan_to_num(db)
        if np.nanmax(np.abs(np.r_[dc, db])) < 1e-8:
            break
    return {"calibration_intercept": a, "calibration_slope": b}


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
