"""Population stability as the monitoring job computes it."""

from __future__ import annotations

import numpy as np
import pytest

from ml.monitoring.drift import psi, quantile_edges, reference, shares


def test_the_same_distribution_is_stable_and_a_shift_is_not():
    rng = np.random.default_rng(7)
    before = rng.normal(0, 1, 20_000)
    ref = reference(before, 10)
    assert len(ref["edges"]) == 9 and sum(ref["shares"]) == pytest.approx(1)
    same = psi(ref["shares"], shares(rng.normal(0, 1, 5_000), ref["edges"]))
    shifted = psi(ref["shares"], shares(rng.normal(0.5, 1, 5_000), ref["edges"]))
    assert same < 0.02 and shifted > 0.2


def test_missing_values_are_their_own_bin():
    edges = quantile_edges(np.array([1.0, 2.0, 3.0, 4.0]), 4)
    counted = shares(np.array([1.0, np.nan, np.nan, 4.0]), edges)
    assert counted[-1] == 0.5 and sum(counted) == pytest.approx(1)
    # a feature that went missing for half the members drifts even if its values did not
    assert psi(shares(np.array([1.0, 2.0, 3.0, 4.0]), edges), counted) > 0.25


def test_a_mostly_zero_count_gets_fewer_bins_and_an_empty_reference_none():
    assert quantile_edges(np.array([0.0] * 95 + [1.0] * 5), 10) == [0.0]
    assert quantile_edges(np.array([np.nan, np.nan]), 10) == []
    assert shares(np.array([]), [0.0]) == [0.0, 0.0, 0.0]


def test_bins_must_match():
    with pytest.raises(ValueError, match="3 reference bins against 2"):
        psi([0.2, 0.3, 0.5], [0.5, 0.5])
