"""Population stability: how far a distribution moved from its reference.

PSI = sum over bins of (actual - expected) * ln(actual / expected), bins fixed by the
reference's quantiles, missing values their own bin. Conventional reading: under 0.1
stable, 0.1-0.25 moderate shift, over 0.25 a population that is not the one the model
learned on. Shares are floored at EPSILON so an empty bin gives a large, finite value.
"""

from __future__ import annotations

import math

import numpy as np

EPSILON = 1e-4


def quantile_edges(values: np.ndarray, bins: int) -> list[float]:
    """Inner bin edges at the reference's quantiles (duplicates merged: a mostly-zero count
    feature gets fewer bins); empty when the reference has no finite value."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return []
    inner = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    return sorted({float(edge) for edge in inner})


def shares(values: np.ndarray, edges: list[float]) -> list[float]:
    """Share of `values` per bin: (-inf, e1], (e1, e2], ..., (ek, inf), then missing."""
    if values.size == 0:
        return [0.0] * (len(edges) + 2)
    missing = ~np.isfinite(values)
    index = np.searchsorted(np.asarray(edges), values[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1).astype(float)
    return [*(counts / values.size), float(missing.sum() / values.size)]


def psi(expected: list[float], actual: list[float]) -> float:
    if len(expected) != len(actual):
        raise ValueError(f"{len(expected)} reference bins against {len(actual)}")
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        if e == 0 and a == 0:
            continue
        e, a = max(e, EPSILON), max(a, EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def reference(values: np.ndarray, bins: int) -> dict:
    """What the training report keeps of a distribution to judge later ones against it."""
    edges = quantile_edges(values, bins)
    return {"edges": edges, "shares": shares(values, edges), "rows": int(values.size)}
