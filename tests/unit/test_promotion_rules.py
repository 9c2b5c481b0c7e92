"""The promotion gate as plain data: the bootstrap it stands on, what passes, what blocks,
what is named as not evaluated, and what each mode does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from ml.config.models import ValidationSettings
from ml.errors import DataError
from ml.evaluation.bootstrap import interval, replicate_weights, weighted_auprc, weighted_auroc
from ml.evaluation.metrics import calibration
from ml.registry.decision import decide
from ml.training.prepare import check_counts

LANDMARKS = ["identification", "week_12", "week_20", "week_28"]
CAPACITY = 0.10
MEAN, SPREAD = -1.0, 1.2  # the true risk's logit
RACES = {"white": 0.36, "black": 0.25, "hispanic": 0.29, "asian_pacific_islander": 0.05, "other": 0.05}


def _config(mode="enabled", **kw) -> ValidationSettings:
    base = {
        "mode": mode,
        "min_auroc": 0.6,
        "min_auprc": 0.35,
        "min_improvement": 0.0,
        "bootstrap": {"replicates": 300, "seed": 5},
        "calibration": {"slope": [0.7, 1.4], "max_abs_intercept": 0.3},
        "min_landmark_rows": 200,
        "subgroups": ["race_ethnicity", "age_band", "rurality"],
    }
    return ValidationSettings(**(base | kw))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def holdout(members=3000, seed=0) -> pd.DataFrame:
    """Landmark rows of one pregnancy per member with a true risk; calibrated scores are
    drawn around it by `score`."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(MEAN, SPREAD, members)
    rows = pd.DataFrame(
        {
            "member_id": np.arange(members),
            "episode_id": np.arange(members) + 10_000,
            "race_ethnicity": rng.choice(list(RACES), members, p=list(RACES.values())),
            "age_band": rng.choice(["under_20", "20_to_34", "35_plus"], members, p=[0.1, 0.75, 0.15]),
            "rurality": rng.choice(["urban", "rural"], members, p=[0.8, 0.2]),
            "truth": logit,
            "label": (rng.random(members) < _sigmoid(logit)).astype(int),
        }
    )
    reached = rng.integers(1, 5, members)  # landmarks reached: identification plus 0-3 weeks
    frame = rows.loc[rows.index.repeat(reached)].copy()
    frame["landmark"] = np.concatenate([LANDMARKS[:k] for k in reached])
    return frame.reset_index(drop=True)


def score(frame: pd.DataFrame, noise: float, seed: int, shift: float = 0.0, where=None) -> np.ndarray:
    """A calibrated model that sees the true risk through `noise` (drawn per member, so a
    member's landmark rows agree; rows in `where` much noisier); `shift` moves it off
    calibration without changing its ranking."""
    rng = np.random.default_rng(seed)
    members = frame["member_id"].to_numpy()
    sigma = np.full(len(frame), noise) if where is None else np.where(where, 3.0, noise)
    seen = frame["truth"].to_numpy() + rng.normal(0, 1, members.max() + 1)[members] * sigma
    shrink = SPREAD**2 / (SPREAD**2 + sigma**2)  # the truth's posterior given what is seen
    mean, variance = MEAN + shrink * (seen - MEAN), SPREAD**2 * sigma**2 / (SPREAD**2 + sigma**2)
    return _sigmoid(mean / np.sqrt(1 + np.pi * variance / 8) + shift)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return holdout()


def compare(rows, challenger, champion=None, config=None, **kw):
    scored = rows.assign(challenger=challenger)
    if champion is not None:
        scored = scored.assign(champion=champion)
    return decide(
        config or _config(**kw), "auroc", CAPACITY, LANDMARKS, "2", "1" if champion is not None else None, scored
    )


# -------------------------------------------------------------------- the bootstrap


def test_weighted_metrics_with_unit_weights_are_scikit_learns():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500), 2)  # ties, as scores have
    ones = np.ones((1, 500))
    assert weighted_auroc(labels, scores, ones)[0] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert weighted_auprc(labels, scores, ones)[0] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


def test_integer_weights_equal_repeating_the_rows():
    rng = np.random.default_rng(2)
    labels, scores = rng.integers(0, 2, 200), rng.random(200)
    counts = rng.integers(0, 4, 200)
    repeated = np.repeat(np.arange(200), counts)
    w = counts[None, :].astype(float)
    assert weighted_auroc(labels, scores, w)[0] == pytest.approx(roc_auc_score(labels[repeated], scores[repeated]))
    assert weighted_auprc(labels, scores, w)[0] == pytest.approx(
        average_precision_score(labels[repeated], scores[repeated])
    )


def test_replicates_resample_whole_members_and_are_seeded():
    clusters = np.array([7, 7, 7, 3, 3, 9])
    w = replicate_weights(clusters, 50, seed=4)
    assert w.shape == (51, 6) and (w[0] == 1).all()
    assert (w[1:, 0] == w[1:, 1]).all() and (w[1:, 3] == w[1:, 4]).all(), "a member's rows move together"
    assert (w[1:, [0, 3, 5]].sum(axis=1) == 3).all(), "each replicate draws as many members as there are"
    assert (replicate_weights(clusters, 50, seed=4) == w).all()


def test_an_interval_covers_its_estimate_and_ignores_undefined_replicates():
    draws = np.r_[0.02, np.linspace(-0.01, 0.05, 1000), np.nan]
    found = interval(draws, 0.9)
    assert found.estimate == 0.02 and found.low < 0.02 < found.high
    assert found.low == pytest.approx(-0.007, abs=1e-4) and found.high == pytest.approx(0.047, abs=1e-4)


# -------------------------------------------------------------------- minimums


def test_first_champion_needs_only_the_minimums_in_every_mode(rows):
    good = score(rows, 0.8, 1)
    for mode in ("enabled", "dry_run", "disabled"):
        d = compare(rows, good, mode=mode)
        assert d.promote and d.outcome == "promote (first champion)", d.description()
    gate = {c.name for c in d.checks if c.kind != "fairness"}
    assert gate == {"min_auroc", "min_auprc"} | {f"calibration_{lm}" for lm in LANDMARKS}
    low = compare(rows, good, min_auroc=0.99)
    assert not low.promote and [c.name for c in low.failed()] == ["min_auroc"]


def test_a_miscalibrated_model_never_becomes_champion(rows):
    shifted = score(rows, 0.8, 1, shift=1.0)  # same ranking, every probability far too high
    d = compare(rows, shifted)
    assert not d.promote and d.outcome == "reject (below the minimums)"
    failed = {c.name for c in d.failed()}
    assert failed == {f"calibration_{lm}" for lm in LANDMARKS}
    assert "intercept" in d.failed()[0].detail


def test_calibration_is_judged_on_its_interval(rows):
    """A small holdout whose point estimate lies outside the bounds but whose interval
    reaches them passes; the same miscalibration on a large holdout fails."""
    small = rows[rows["member_id"] < 250]
    slightly = score(small, 0.8, 1, shift=0.35)
    d = compare(small, slightly, min_landmark_rows=20)
    check = next(c for c in d.checks if c.name == "calibration_identification")
    part = small["landmark"] == "identification"
    point = calibration(small.loc[part, "label"].to_numpy(), slightly[part.to_numpy()])["calibration_intercept"]
    assert abs(point) > 0.3 and check.passed, check.detail
    big = compare(rows, score(rows, 0.8, 1, shift=0.6))
    assert not next(c for c in big.checks if c.name == "calibration_identification").passed


# -------------------------------------------------------------------- comparisons


def test_a_tie_keeps_the_champion_with_the_interval_in_the_reason(rows):
    same = score(rows, 0.8, 1)
    d = compare(rows, same, same)
    beats = next(c for c in d.checks if c.name == "beats_champion_auroc")
    assert not beats.passed and beats.low == beats.high == 0.0
    assert "inconclusive or a tie: champion kept" in beats.detail and "[+0.0000, +0.0000]" in beats.detail
    assert not d.promote and d.outcome == "reject (challenger failed)"
    assert d.tags()["interval_beats_champion_auroc"] == "+0.0000 [+0.0000, +0.0000]"
    assert d.reasons().startswith("beats_champion_auroc +0.0000 [+0.0000, +0.0000] (n=")
    assert d.tags()["validation_failed_checks"] == d.reasons()


def test_models_that_differ_only_by_noise_are_not_told_apart(rows):
    champion = score(rows, 0.8, 1)
    promoted = [compare(rows, score(rows, 0.8, seed), champion).promote for seed in range(2, 7)]
    assert promoted == [False] * 5


def test_a_truly_better_challenger_is_promoted(rows):
    d = compare(rows, score(rows, 0.4, 1), score(rows, 1.2, 1))
    beats = next(c for c in d.checks if c.name == "beats_champion_auroc")
    assert beats.passed and beats.low > 0, beats.detail
    assert d.promote and d.outcome == "promote", d.description()


def test_the_gate_judges_in_a_fixed_order_minimums_primary_then_secondary(rows):
    """The decision record lists each check in order with its interval: minimums, the
    primary metric, then per landmark AUROC, PPV and sensitivity at capacity, then every
    subgroup cell; fairness alerts last."""
    d = compare(rows, score(rows, 0.4, 1), score(rows, 1.2, 1))
    kinds = [c.kind for c in d.checks]
    assert kinds == sorted(kinds, key=["minimum", "primary", "secondary", "disparity", "fairness"].index)
    assert [c.name for c in d.checks if c.kind == "disparity"] == [
        "no_new_disparity_race_ethnicity", "no_new_disparity_age_band", "no_new_disparity_rurality"
    ]  # fmt: skip
    assert [c.order for c in d.checks] == list(range(1, len(d.checks) + 1))
    secondary = [c.name for c in d.checks if c.kind == "secondary"]
    expected = [f"{metric}_{lm}" for metric in ("auroc", "ppv", "sensitivity") for lm in LANDMARKS]
    assert secondary[: len(expected)] == expected
    assert all(name.startswith("subgroup_") for name in secondary[len(expected) :])
    assert {n.split("_")[1] for n in secondary[len(expected) :]} >= {"race", "age", "rurality"}
    for check in d.checks:
        if check.kind in ("primary", "secondary"):
            assert check.low <= check.value <= check.high and check.n > 0
    lines = d.description().splitlines()[1:]
    assert [line.split(". ", 1)[0].strip("- ") for line in lines if ". " in line][:5] == ["1", "2", "3", "4", "5"]


def test_secondary_margins_are_sized_to_their_own_standard_error(rows):
    """A small landmark's margin is wider than a large one's; an equal challenger passes
    every secondary check."""
    champion = score(rows, 0.8, 1)
    d = compare(rows, champion.copy(), champion)
    margins = {c.name: -c.threshold for c in d.checks if c.kind == "secondary"}
    assert all(c.passed for c in d.checks if c.kind == "secondary")
    rows_per_landmark = rows["landmark"].value_counts()
    assert rows_per_landmark["week_28"] < rows_per_landmark["identification"]
    noisy = compare(rows, score(rows, 0.8, 9), champion)
    widths = {c.name: -c.threshold for c in noisy.checks if c.kind == "secondary"}
    assert widths["auroc_week_28"] > widths["auroc_identification"] > 0
    assert margins["auroc_identification"] == 0.0, "identical scores: no spread, no margin"


def test_each_further_look_at_one_holdout_spends_half_the_remaining_level(rows):
    from ml.registry.decision import primary_alpha

    assert [primary_alpha(0.95, k) for k in (1, 2, 3)] == pytest.approx([0.025, 0.0125, 0.00625])
    challenger, champion = score(rows, 0.4, 1), score(rows, 1.2, 1)
    first = next(c for c in compare(rows, challenger, champion).checks if c.kind == "primary")
    fourth = next(
        c
        for c in decide(
            _config(),
            "auroc",
            CAPACITY,
            LANDMARKS,
            "2",
            "1",
            rows.assign(challenger=challenger, champion=champion),
            look=4,
        ).checks
        if c.kind == "primary"
    )
    assert fourth.low < first.low and "look 4" in fourth.detail and "one-sided 0.003125" in fourth.detail


def test_a_better_model_that_is_worse_for_one_subgroup_is_blocked(rows):
    rural = (rows["rurality"] == "rural").to_numpy()
    d = compare(rows, score(rows, 0.4, 1, where=rural), score(rows, 1.0, 1))
    assert next(c for c in d.checks if c.name == "beats_champion_auroc").passed
    failed = {c.name for c in d.failed()}
    assert "subgroup_rurality_rural" in failed and "subgroup_rurality_urban" not in failed
    assert not d.promote and d.tags()["check_subgroup_rurality_rural"] == "fail"


def test_every_subgroup_cell_is_judged_small_ones_partially_pooled(rows):
    """No cell is skipped for its size: a cell under min_subgroup_episodes leans on its
    subgroup's estimate, a larger one stands on its own; only a cell with a single class
    is not evaluated."""
    challenger, champion = score(rows, 0.4, 1), score(rows, 1.2, 1)
    d = compare(rows, challenger, champion, min_subgroup_episodes=200)
    cells = {c.name: c for c in d.checks if c.name.startswith("subgroup_race_ethnicity_")}
    assert set(cells) == {f"subgroup_race_ethnicity_{r}" for r in RACES}
    episodes = rows.groupby("race_ethnicity")["episode_id"].nunique()
    for race in RACES:
        detail = cells[f"subgroup_race_ethnicity_{race}"].detail
        if episodes[race] >= 200:
            assert "judged on its own: at least 200 episodes" in detail, detail
        else:
            weight = float(detail.split("weight ")[1].split(" ")[0])
            assert 0 <= weight <= 1 and "partially pooled" in detail
    single = rows.assign(label=np.where(rows["race_ethnicity"] == "other", 0, rows["label"]))
    d = compare(single, challenger, champion)
    skipped = {n.name: n for n in d.not_evaluated}
    n = single.loc[single["race_ethnicity"] == "other", "episode_id"].nunique()
    assert str(skipped["subgroup_race_ethnicity_other"]) == f"not evaluated (n={n}): a single class"
    assert d.tags()["check_subgroup_race_ethnicity_other"] == f"not evaluated (n={n})"
    assert f"NOT EVALUATED subgroup_race_ethnicity_other: not evaluated (n={n})" in d.description()


def test_a_loss_in_one_large_cell_is_not_hidden_by_gains_elsewhere(rows):
    """Better for everyone but Black members, whom it serves far worse: the primary check
    passes, and the Black cell, judged on its own rows, stops the promotion, as does the
    disparity it opens that the champion did not have."""
    black = (rows["race_ethnicity"] == "black").to_numpy()
    challenger, champion = score(rows, 0.3, 1, where=black), score(rows, 1.2, 2)  # +0.035 overall, -0.10 for them
    d = compare(rows, challenger, champion)
    assert next(c for c in d.checks if c.name == "beats_champion_auroc").passed
    harmed = next(c for c in d.checks if c.name == "subgroup_race_ethnicity_black")
    assert not harmed.passed and "judged on its own" in harmed.detail and harmed.high < 0
    opened = next(c for c in d.checks if c.name == "no_new_disparity_race_ethnicity")
    assert not opened.passed and opened.detail.startswith("opens a disparity the champion does not have in 1 of")
    assert "black: " in opened.detail and opened.kind == "disparity"
    assert next(c for c in d.checks if c.name == "no_new_disparity_age_band").passed
    assert not d.promote


def test_a_disparity_both_models_share_is_no_reason_to_keep_the_champion(rows):
    """Alerts the champion raises too (a group both serve worse) block nothing."""
    black = (rows["race_ethnicity"] == "black").to_numpy()
    champion = score(rows, 0.6, 2, where=black)
    d = compare(rows, score(rows, 0.5, 3, where=black), champion)
    assert any(c.name == "fairness_race_ethnicity_black" and not c.passed for c in d.checks), "both alert"
    assert next(c for c in d.checks if c.name == "no_new_disparity_race_ethnicity").passed


def test_a_model_better_for_everyone_may_move_list_places_to_the_group_at_higher_risk():
    """Black members at higher true risk: a challenger that ranks every group better puts
    more of them on the list, and the other groups' sensitivity falls under 80% of theirs
    (alerts the flatter champion does not raise). It ranks no group worse: under
    worse_means "ranking" it opens no disparity and is promoted with the alerts reported;
    under "reach" (the default) fewer of those groups' positives on the list block it."""
    rows = holdout()
    black = (rows["race_ethnicity"] == "black").to_numpy()
    members = rows["member_id"].to_numpy()
    truth = rows["truth"].to_numpy() + np.where(black, 1.2, 0.0)
    drawn = np.random.default_rng(2).random(members.max() + 1)[members]
    rows = rows.assign(truth=truth, label=(drawn < _sigmoid(truth)).astype(int))
    challenger, champion = score(rows, 0.3, 1), score(rows, 1.5, 2)
    d = compare(rows, challenger, champion, fairness={"worse_means": "ranking"})
    alerts = {c.name for c in d.alerts()}
    assert {"fairness_race_ethnicity_white", "fairness_race_ethnicity_hispanic"} <= alerts
    assert next(c for c in d.checks if c.name == "no_new_disparity_race_ethnicity").passed
    assert d.promote
    strict = compare(rows, challenger, champion)
    assert [c.name for c in strict.failed()] == ["no_new_disparity_race_ethnicity"]


def test_fairness_is_judged_absolutely_and_alerts_without_blocking(rows):
    """The challenger's own disparity: a cell it serves far worse than the best raises an
    alert with the figures, which blocks only when configured to."""
    black = (rows["race_ethnicity"] == "black").to_numpy()
    challenger, champion = score(rows, 0.4, 1, where=black), score(rows, 0.4, 1, where=black)
    d = compare(rows, challenger, champion)
    alert = next(c for c in d.checks if c.name == "fairness_race_ethnicity_black")
    assert alert.status == "ALERT" and "below the best" in alert.detail and alert in d.alerts()
    assert alert not in d.failed()
    cells = {(r["subgroup"], r["cell"]): r for r in d.fairness}
    assert cells[("race_ethnicity", "black")]["auroc"]["high"] < cells[("race_ethnicity", "white")]["auroc"]["low"]
    assert {"auroc", "sensitivity", "observed_expected", "rows", "positives"} <= set(cells[("age_band", "35_plus")])
    blocking = compare(rows, challenger, champion, fairness={"block": True})
    assert alert.name in {c.name for c in blocking.failed()}


def test_equal_service_raises_no_alert_although_the_best_cell_is_flattered_by_noise():
    """One model, every group seen through the same noise: the best-served of several cells
    is best partly by chance, so each cell is compared with it replicate by replicate.
    (Judged against the best cell's point estimate, 12 of 20 such holdouts alerted.)"""
    alerted = 0
    for seed in range(6):
        rows = holdout(members=1500, seed=seed)
        d = compare(rows, score(rows, 0.8, seed + 100))
        alerted += any(c.kind == "fairness" and not c.passed for c in d.checks)
    assert alerted <= 1


def test_tied_scores_share_the_last_places_on_the_list():
    """A model with one score for all reaches each group in proportion, whatever the row order."""
    from ml.evaluation.metrics import capacity_share_flagged

    assert capacity_share_flagged(np.full(20, 0.3), 0.10).tolist() == [0.1] * 20
    assert capacity_share_flagged(np.array([0.9, 0.5, 0.5, 0.5, 0.1]), 0.4).tolist() == [1, 1 / 3, 1 / 3, 1 / 3, 0]
    assert capacity_share_flagged(np.array([0.2, 0.1]), 0.01).tolist() == [1, 0]


def test_ppv_and_sensitivity_are_judged_at_capacity_not_at_a_score(rows):
    """A challenger with the champion's ranking but every score lower flags the same top 10%:
    at capacity it finds exactly as many true cases (a fixed cut-off would have it flag
    fewer and fail)."""
    champion = score(rows, 0.6, 1)
    timid = champion**1.5  # the same ranking (the same AUROC), fewer above any fixed score
    d = compare(rows, timid, champion)
    assert next(c for c in d.checks if c.name == "beats_champion_auroc").value == 0.0
    for landmark in LANDMARKS:
        for metric in ("ppv", "sensitivity"):
            check = next(c for c in d.checks if c.name == f"{metric}_{landmark}")
            assert check.value == 0.0 and check.passed and "at capacity (top 10%)" in check.detail


def test_small_landmarks_are_named_not_evaluated(rows):
    thin = rows[(rows["landmark"] != "week_28") | (rows["member_id"] % 20 == 0)]
    champion = score(thin, 0.6, 1)
    d = compare(thin, score(thin, 0.6, 2), champion)
    names = {n.name for n in d.not_evaluated}
    assert {"calibration_week_28", "landmark_week_28"} <= names
    assert not any(c.name.endswith("week_28") for c in d.checks)


def test_dry_run_decides_and_records_but_never_moves_the_champion(rows):
    d = compare(rows, score(rows, 0.4, 1), score(rows, 1.2, 1), mode="dry_run")
    assert d.passed and not d.promote
    assert d.outcome == "dry run: challenger passed; champion unchanged"
    assert d.tags()["validation_passed"] == "true" and d.tags()["validation_promote"] == "false"


def test_disabled_leaves_the_champion_alone_without_comparing(rows):
    d = compare(rows, score(rows, 0.4, 1), score(rows, 1.2, 1), mode="disabled")
    assert not d.promote and all(c.kind in ("minimum", "fairness") for c in d.checks)


def test_every_metric_interval_and_check_is_in_the_tags_report_and_description(rows):
    d = compare(rows, score(rows, 0.4, 1), score(rows, 1.2, 1))
    tags, report, text = d.tags(), d.to_dict(), d.description()
    assert float(tags["challenger_auroc"]) > float(tags["champion_auroc"])
    assert {k for k in tags if k.startswith("check_")} == {f"check_{c.name}" for c in d.checks}
    for check in d.checks:
        assert f"{check.status} {check.name}" in text
        if check.kind in ("primary", "secondary"):
            assert f"interval_{check.name}" in tags and check.low <= check.value <= check.high
    assert {c["name"] for c in report["checks"]} == {c.name for c in d.checks}
    assert set(report["challenger_landmarks"]) == set(LANDMARKS)


@pytest.mark.parametrize(
    ("counts", "positives", "message"),
    [
        (
            {"train": 0, "validation": 0, "calibration": 0, "test": 0},
            {"train": 0, "validation": 0, "calibration": 0, "test": 0},
            "the training set is empty",
        ),
        (
            {"train": 50, "validation": 10, "calibration": 10, "test": 10},
            {"train": 0, "validation": 0, "calibration": 0, "test": 0},
            r"label high_risk has a single class \(all 0\) in 80 landmark rows",
        ),
        (
            {"train": 2, "validation": 0, "calibration": 0, "test": 0},
            {"train": 1, "validation": 0, "calibration": 0, "test": 0},
            "2 landmark rows are fewer than the 4 splits",
        ),
        (
            {"train": 50, "validation": 0, "calibration": 10, "test": 10},
            {"train": 5, "validation": 0, "calibration": 2, "test": 2},
            "split 'validation' is empty",
        ),
        (
            {"train": 50, "validation": 10, "calibration": 10, "test": 10},
            {"train": 5, "validation": 0, "calibration": 2, "test": 2},
            "split 'validation' has a single class",
        ),
        (
            {"train": 50, "validation": 10, "calibration": 0, "test": 10},
            {"train": 5, "validation": 2, "calibration": 0, "test": 2},
            r"split 'calibration' is empty .*: no censoring-safe pregnancy of the newest months",
        ),
    ],
)
def test_training_sets_that_cannot_train_a_model_stop_with_one_line(counts, positives, message):
    with pytest.raises(DataError, match=message) as error:
        check_counts("high_risk", counts, positives)
    assert "\n" not in str(error.value)
