"""`hrob data profile` judges a cohort with its size: a small cohort's noisy effects are
`uncertain`, not `off`; a large cohort that misses a target is `off`."""

from __future__ import annotations

import math

import pytest

from ml.synth.profile import verdicts, with_verdicts
from ml.synth.targets import BASE_RATES, EFFECTS, OFF, OK, UNCERTAIN, effect_interval, proportion_interval, verdict


def _result(scale: int, preterm_share: float, rr: float) -> dict:
    """A profile of `scale` closed episodes: every rate on target except preterm birth; the
    effects' 2x2 cells sized to the cohort, homelessness -> low birthweight at odds ratio `rr`."""
    rates = {
        name: {"observed": r.target, "target": r.target, "low": r.low, "high": r.high, "rows": scale}
        for name, r in BASE_RATES.items()
    }
    rates["preterm_birth"]["observed"] = preterm_share
    effects = {}
    for name, effect in EFFECTS.items():
        n1, n0 = max(scale // 250, 2), scale
        p0 = 0.1
        target = rr if name == "homelessness->low_birthweight" else effect.target
        if effect.measure == "rate":
            p1 = target
        elif effect.measure == "RR":
            p1 = min(p0 * target, 0.95)
        else:
            odds = target * p0 / (1 - p0)
            p1 = odds / (1 + odds)
        y1, y0 = max(round(p1 * n1), 1), round(p0 * n0)
        observed = {"rate": y1 / n1, "RR": (y1 / n1) / (y0 / n0)}.get(
            effect.measure, (y1 / (n1 - y1)) / (y0 / (n0 - y0)) if y1 < n1 else None
        )
        effects[name] = {
            "observed": observed,
            "target": effect.target,
            "measure": effect.measure,
            "exposed": n1,
            "cells": {"n1": n1, "y1": y1, "n0": n0, "y0": y0},
        }
    return {"base_rates": rates, "odds_ratios": effects, "timing": {}}


def test_a_small_cohort_is_uncertain_where_a_large_one_is_off():
    small = verdicts(_result(2_000, 0.08, 3.0))  # 8 exposed members per effect
    large = verdicts(_result(200_000, 0.08, 3.0))
    assert small["effect:homelessness->low_birthweight"] == UNCERTAIN
    assert large["effect:homelessness->low_birthweight"] == OFF
    assert small["base_rate:preterm_birth"] == UNCERTAIN  # 8% of 2,000 against 9-13%
    assert large["base_rate:preterm_birth"] == OFF
    assert large["base_rate:low_birthweight"] == OK


def test_status_is_off_exactly_when_a_verdict_is_off():
    assert with_verdicts(_result(2_000, 0.11, 1.43))["status"] == "ok"
    judged = with_verdicts(_result(200_000, 0.08, 1.43))
    assert judged["status"] == OFF and judged["base_rates"]["preterm_birth"]["verdict"] == OFF
    assert judged["odds_ratios"]["homelessness->low_birthweight"]["verdict"] == OK


def test_intervals():
    low, high = proportion_interval(0.5, 100)
    assert low < 0.5 < high and math.isclose(high - 0.5, 0.5 - low, rel_tol=1e-9)
    assert proportion_interval(0.1, 0) is None
    narrow, wide = effect_interval("OR", 1000, 300, 1000, 100), effect_interval("OR", 10, 3, 10, 1)
    assert narrow[0] < 3.86 < narrow[1] and wide[1] - wide[0] > 10 * (narrow[1] - narrow[0])
    assert effect_interval("RR", 10, 0, 10, 1) is None  # no exposed case: no finite interval


@pytest.mark.parametrize(
    ("observed", "interval", "expected"),
    [(1.0, (0.9, 1.1), OK), (1.5, (0.5, 3.0), UNCERTAIN), (1.5, (1.4, 1.6), OFF), (None, None, UNCERTAIN)],
)
def test_verdict(observed, interval, expected):
    assert verdict(observed, interval, 0.8, 1.2) == expected
