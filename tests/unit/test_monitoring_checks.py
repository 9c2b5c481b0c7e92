"""The monitoring job's checks on small frames: drift per landmark with the landmark mix
held, false-alarm rates, realised and expected performance, and when a crossed threshold
starts training (labels, cool-down, acknowledgements), with the thresholds of
configs/project.yml."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ml.config.loader import load_settings
from ml.config.models import RetrainSettings
from ml.monitoring import retraining
from ml.monitoring.drift import landmark_reference, psi_false_alarm
from ml.monitoring.expected import expected_auroc, expected_ppv
from ml.monitoring.job import feature_checks, realised_checks, score_checks

SETTINGS = load_settings("local")
LANDMARKS = ["identification", "week_12", "week_20", "week_28"]


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


def _scored(rows: int, mix: list[float], seed: int) -> pd.DataFrame:
    """Scores that rise with the landmark (later landmarks score higher), in `mix`."""
    rng = np.random.default_rng(seed)
    landmark = rng.choice(LANDMARKS, rows, p=mix)
    level = pd.Series(landmark).map({lm: i * 0.6 for i, lm in enumerate(LANDMARKS)}).to_numpy()
    score = 1 / (1 + np.exp(-(-1.5 + level + rng.normal(0, 0.8, rows))))
    return pd.DataFrame({"landmark": landmark, "risk_score": score})


def test_score_drift_is_per_landmark_and_a_new_landmark_mix_alone_moves_nothing():
    """The demo's day was half week 28 against a third in the reference: a pooled PSI
    moves with no population change; per landmark and mix-held, nothing moves."""
    reference_rows = _scored(20_000, [0.35, 0.1, 0.25, 0.3], seed=1)
    reference = landmark_reference(reference_rows["risk_score"].to_numpy(), reference_rows["landmark"].to_numpy(), 10)
    shifted_mix = _scored(3_000, [0.15, 0.05, 0.2, 0.6], seed=2)
    checks = {c.slice: c for c in score_checks(shifted_mix, reference, SETTINGS)}
    assert set(checks) == {f"landmark={lm}" for lm in LANDMARKS} | {"all"}
    assert not any(c.crossed for c in checks.values())
    assert checks["all"].value < 0.02 and checks["all"].threshold is not None, "judged, and stable"
    from ml.monitoring.drift import psi, shares

    pooled = psi(reference["shares"], shares(shifted_mix["risk_score"].to_numpy(), reference["edges"]))
    assert pooled > 5 * checks["all"].value, "what a pooled PSI would have called drift"
    drifted = shifted_mix.assign(
        risk_score=np.where(
            shifted_mix["landmark"] == "week_28", shifted_mix["risk_score"] ** 0.4, shifted_mix["risk_score"]
        )
    )
    moved = {c.slice: c for c in score_checks(drifted, reference, SETTINGS)}
    assert moved["landmark=week_28"].crossed and not moved["landmark=identification"].crossed


def test_drift_on_few_rows_is_reported_with_its_false_alarm_rate_not_judged():
    reference_rows = _scored(5_000, [0.25] * 4, seed=1)
    reference = landmark_reference(reference_rows["risk_score"].to_numpy(), reference_rows["landmark"].to_numpy(), 10)
    few = _scored(40, [0.25] * 4, seed=3)
    checks = score_checks(few, reference, SETTINGS)
    limit = SETTINGS.project.monitoring.max_false_alarm
    assert all(c.threshold is None and not c.crossed and c.false_alarm > limit for c in checks)
    assert psi_false_alarm(0.2, 10, 40, 5_000) > 0.5 > psi_false_alarm(0.2, 10, 400, 5_000)


def test_realised_performance_by_slice_and_its_threshold():
    good = {(c.check, c.slice): c for c in realised_checks(_known(1_000, True), SETTINGS, expected=0.75)}
    assert {s for _, s in good} == {"all", "landmark=identification", "landmark=week_20", "cohort_month=2026-01",
                                    "cohort_month=2026-02"}  # fmt: skip
    overall = good[("realised_auroc", "all")]
    assert overall.value > 0.7 and overall.threshold == SETTINGS.project.monitoring.min_realised_auroc
    assert not overall.crossed and overall.false_alarm < 1e-4 and overall.detail.startswith("interval [")
    assert good[("realised_calibration", "all")].value == pytest.approx(0.0, abs=0.05)
    useless = {(c.check, c.slice): c for c in realised_checks(_known(1_000, False), SETTINGS, expected=0.75)}
    assert useless[("realised_auroc", "all")].crossed, "a model that no longer ranks anyone asks for retraining"
    few = {(c.check, c.slice): c for c in realised_checks(_known(50, False), SETTINGS, expected=0.62)}
    assert few[("realised_auroc", "all")].threshold is None, "50 outcomes: a false alarm too likely to judge"


def test_expected_performance_from_calibrated_scores_matches_what_the_outcomes_show():
    rng = np.random.default_rng(4)
    risk = rng.beta(2, 5, 5_000)
    simulated = [roc_auc_score(rng.random(len(risk)) < risk, risk) for _ in range(100)]
    assert expected_auroc(risk) == pytest.approx(np.mean(simulated), abs=0.003)
    top = risk >= np.quantile(risk, 0.9)
    assert expected_ppv(risk, top) == pytest.approx(risk[top].mean())


def test_feature_drift_and_missingness_are_judged_per_feature_and_landmark():
    rng = np.random.default_rng(5)
    reference = pd.DataFrame(
        {"a": rng.normal(0, 1, 5_000), "b": rng.normal(0, 1, 5_000), "landmark": rng.choice(LANDMARKS[:2], 5_000)}
    )
    current = pd.DataFrame(
        {"a": rng.normal(0, 1, 800), "b": rng.normal(0, 1, 800), "landmark": rng.choice(LANDMARKS[:2], 800)}
    )
    current.loc[: len(current) // 2, "b"] = np.nan  # half of b stopped arriving
    checks = {(c.check, c.slice): c for c in feature_checks(reference, current, ["a", "b"], SETTINGS)}
    assert ("feature_psi", "feature=a,landmark=week_12") in checks
    assert (
        not checks[("feature_psi", "feature=a")].crossed and not checks[("missing_share_change", "feature=a")].crossed
    )
    assert checks[("missing_share_change", "feature=b")].crossed
    assert checks[("missing_share_change", "feature=b")].value == pytest.approx(0.5, abs=0.02)
    assert checks[("feature_psi", "feature=b")].crossed
    assert checks[("feature_psi", "feature=b,landmark=identification")].crossed


RULE = RetrainSettings(min_new_labels=300, cooldown_days=28)
DAY = date(2026, 6, 15)
CROSSED = [("feature_psi", "feature=enrollment__days_enrolled__12m"), ("score_psi", "landmark=week_28")]


def test_a_retrain_is_not_started_without_new_labels_or_within_the_cool_down():
    waiting = retraining.decide(CROSSED, [], 0, 60, RULE, DAY)
    assert not waiting.start and waiting.detail.startswith("not retraining: crossed: feature_psi")
    assert "0 new censoring-safe labelled pregnancies since the champion's as-of date (needs 300)" in waiting.detail
    cooling = retraining.decide(CROSSED, [], 500, 10, RULE, DAY)
    assert not cooling.start and "10 days since the newest training run (cool-down 28)" in cooling.detail
    assert retraining.decide(CROSSED, [], 500, 28, RULE, DAY).start
    assert not retraining.decide([], [], 500, 60, RULE, DAY).start, "nothing crossed: nothing to retrain for"


def test_an_acknowledged_drift_does_not_retrigger_until_it_expires():
    held = [retraining.Acknowledgement("feature_psi", None, DAY + timedelta(days=30))]
    partly = retraining.decide(CROSSED, held, 500, 60, RULE, DAY)
    assert partly.start and partly.acknowledged == ["feature_psi (feature=enrollment__days_enrolled__12m)"]
    both = [*held, retraining.Acknowledgement("score_psi", "landmark=week_28", None)]
    quiet = retraining.decide(CROSSED, both, 500, 60, RULE, DAY)
    assert not quiet.start and quiet.detail.startswith("not retraining: every crossed threshold acknowledged")
    later = retraining.decide(CROSSED, both, 500, 60, RULE, DAY + timedelta(days=31))
    assert later.start and later.acknowledged == ["score_psi (landmark=week_28)"], "the first expired"


def test_the_report_spans_the_dates_it_has():
    import pandas as pd

    from ml.monitoring.report import readable_slice, verdict, x_range

    one = x_range(pd.Series(["2026-06-15"]))
    assert (one[1] - one[0]).days == 2, "one date: the day before to the day after, not years"
    many = x_range(pd.Series(["2026-05-18", "2026-06-15"]))
    assert many[0] < pd.Timestamp("2026-05-18") and many[1] > pd.Timestamp("2026-06-15")
    assert (many[1] - many[0]).days < 40
    names = {"enrollment__days_enrolled__12m": "Days enrolled in the plan, last 12 months"}
    assert readable_slice("feature=enrollment__days_enrolled__12m,landmark=week_12", names) == (
        "Days enrolled in the plan, last 12 months, landmark week 12"
    )
    row = pd.Series({"crossed": False, "threshold": float("nan"), "false_alarm": 0.2, "rows": 40})
    assert verdict(row, 0.01) == "not judged (20% false alarms at 40 rows)"
    assert verdict(pd.Series({"crossed": True, "threshold": 0.2, "false_alarm": 0.0, "rows": 900}), 0.01) == "CROSSED"
    assert verdict(pd.Series({"crossed": False, "threshold": 0.2, "false_alarm": 0.0, "rows": 900}), 0.01) == "PASS"
