"""The monitoring job's checks on small frames: realised performance by slice, feature
drift and missingness, with the thresholds of configs/project.yml."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.config.loader import load_settings
from ml.monitoring.job import feature_checks, realised_checks

SETTINGS = load_settings("local")


def _known(rows: int, informative: bool, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.random(rows) < 0.3
    score = np.clip(0.3 + (0.3 if informative else 0.0) * (label - 0.3) + rng.normal(0, 0.15, rows), 0, 1)
    return pd.DataFrame(
        {
            "label": label.astype(float),
            "risk_score": score,
            "landmark": rng.choice(["identification", "week_20"], rows),
            "risk_tier": np.where(score >= np.quantile(score, 0.9), "high", "standard"),
            "cohort_month": rng.choice(["2026-01", "2026-02"], rows),
        }
    )


def test_realised_performance_by_slice_and_its_threshold():
    good = {(c.check, c.slice): c for c in realised_checks(_known(1_000, True), SETTINGS)}
    assert {s for _, s in good} == {"all", "landmark=identification", "landmark=week_20", "cohort_month=2026-01",
                                    "cohort_month=2026-02"}  # fmt: skip
    overall = good[("realised_auroc", "all")]
    assert overall.value > 0.7 and overall.threshold == SETTINGS.project.monitoring.min_realised_auroc
    assert not overall.crossed
    assert good[("realised_calibration", "all")].value == pytest.approx(0.0, abs=0.05)
    useless = {(c.check, c.slice): c for c in realised_checks(_known(1_000, False), SETTINGS)}
    assert useless[("realised_auroc", "all")].crossed, "a model that no longer ranks anyone asks for retraining"
    few = {(c.check, c.slice): c for c in realised_checks(_known(50, False), SETTINGS)}
    assert few[("realised_auroc", "all")].threshold is None, "50 outcomes are too few to judge"


def test_feature_drift_and_missingness_are_judged_per_feature():
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"a": rng.normal(0, 1, 5_000), "b": rng.normal(0, 1, 5_000)})
    current = pd.DataFrame({"a": rng.normal(0, 1, 800), "b": rng.normal(0, 1, 800)})
    current.loc[: len(current) // 2, "b"] = np.nan  # half of b stopped arriving
    checks = {(c.check, c.slice): c for c in feature_checks(reference, current, ["a", "b"], SETTINGS)}
    assert (
        not checks[("feature_psi", "feature=a")].crossed and not checks[("missing_share_change", "feature=a")].crossed
    )
    assert checks[("missing_share_change", "feature=b")].crossed
    assert checks[("missing_share_change", "feature=b")].value == pytest.approx(0.5, abs=0.01)
    assert checks[("feature_psi", "feature=b")].crossed
