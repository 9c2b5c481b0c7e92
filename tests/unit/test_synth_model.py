"""The generative model itself (numpy, no Spark): random streams, determinism under any
batching, the closed-form oracle, and calendar drift."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from ml.errors import DataError
from ml.synth.generate import cohort_spec
from ml.synth.people import CohortSpec, day_number, people
from ml.synth.pregnancy import episodes
from ml.synth.rng import Streams


def simulate(ids: np.ndarray, spec: CohortSpec) -> dict[str, np.ndarray]:
    rng = Streams(spec.seed)
    return episodes(people(ids, rng), rng, spec)


SPEC = CohortSpec(60_000, 11, date(2021, 1, 1), date(2026, 6, 30), 4)


@pytest.fixture(scope="module")
def cohort():
    return simulate(np.arange(1, SPEC.members + 1), SPEC)


def test_streams_depend_only_on_seed_stream_and_keys():
    rng = Streams(3)
    keys = np.arange(1000)
    whole = rng.uniform("x", keys, 2)
    assert np.array_equal(whole[500:], Streams(3).uniform("x", keys[500:], 2))
    assert not np.allclose(whole, rng.uniform("y", keys, 2))
    assert not np.allclose(whole, Streams(4).uniform("x", keys, 2))
    assert whole.min() > 0 and whole.max() < 1


def test_stream_distributions():
    rng = Streams(5)
    keys = np.arange(200_000)
    assert abs(rng.uniform("u", keys).mean() - 0.5) < 0.005
    z = rng.normal("z", keys)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    counts = rng.geometric(np.full(len(keys), 2.5), "g", keys)
    assert abs(counts.mean() - 2.5) < 0.05 and counts.min() == 0
    picks = rng.choice({"a": 1, "b": 3}, "c", keys)
    assert abs((picks == "b").mean() - 0.75) < 0.005


def test_episodes_do_not_depend_on_batching():
    ids = np.arange(1, 3001)
    whole = simulate(ids, SPEC)
    halves = [simulate(ids[:1234], SPEC), simulate(ids[1234:], SPEC)]
    order = np.argsort(whole["episode_id"])
    joined = {k: np.concatenate([h[k] for h in halves]) for k in whole}
    order_joined = np.argsort(joined["episode_id"])
    for name in ("episode_id", "identified_day", "pregnancy_end_day", "true_risk", "composite_true", "birthweight"):
        assert np.array_equal(whole[name][order], joined[name][order_joined]), name


def test_episodes_lie_in_the_period_and_follow_each_other(cohort):
    assert cohort["week12_day"].min() >= SPEC.start_day
    assert cohort["week12_day"].max() <= SPEC.end_day
    delivered = ~cohort["lost"]
    assert np.all(cohort["pregnancy_end_day"][delivered] > cohort["week12_day"][delivered])
    visited = cohort["first_visit_day"] >= 0
    assert np.all(cohort["first_visit_day"][visited] < cohort["pregnancy_end_day"][visited])
    assert np.all(cohort["identified_day"][visited] > cohort["first_visit_day"][visited]), (
        "claims arrive after the visit"
    )
    assert np.all(cohort["identified_day"][~visited] == cohort["end_recorded_day"][~visited])
    assert np.all(cohort["recorded_day"] > cohort["end_recorded_day"]), "an outcome needs the delivery's claim"
    weeks = cohort["weeks"][delivered]
    assert weeks.min() >= 22 and weeks.max() <= 41
    by_member = np.lexsort((cohort["k"], cohort["member_id"]))
    m, lmp, delivery = (cohort[n][by_member] for n in ("member_id", "lmp_day", "pregnancy_end_day"))
    same = m[1:] == m[:-1]
    assert np.all(lmp[1:][same] > delivery[:-1][same]), "a pregnancy starts after the previous delivery"


def test_oracle_is_calibrated(cohort):
    """The closed-form probability matches the simulated outcome frequency of deliveries, bin
    by bin (a loss has no birth outcome)."""
    delivered = ~cohort["lost"]
    risk, outcome = cohort["true_risk"][delivered], cohort["composite_true"][delivered].astype(float)
    assert abs(risk.mean() - outcome.mean()) < 0.006
    bins = np.quantile(risk, np.linspace(0, 1, 11))
    which = np.clip(np.searchsorted(bins, risk, side="right") - 1, 0, 9)
    for b in range(10):
        in_bin = which == b
        assert abs(risk[in_bin].mean() - outcome[in_bin].mean()) < 0.03, b


def test_calendar_drift_between_periods():
    early_spec = CohortSpec(40_000, 2, date(2016, 1, 1), date(2018, 12, 31), 4)
    late_spec = CohortSpec(40_000, 2, date(2024, 1, 1), date(2026, 11, 30), 4)
    early = simulate(np.arange(1, 40_001), early_spec)
    late = simulate(np.arange(1, 40_001), late_spec)
    assert late["gdm_true"].mean() > early["gdm_true"].mean() + 0.01
    assert late["hypertension"].mean() > early["hypertension"].mean() * 1.15
    # twelve months of postpartum coverage from 2022 keep more members enrolled between pregnancies
    assert late["postpartum_end_day"].mean() - late["pregnancy_end_day"].mean() > 300
    assert early["postpartum_end_day"].mean() - early["pregnancy_end_day"].mean() == 60


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"members": 0}, "--members must be at least 1"),
        ({"start": "2024-13"}, "--start: expected a month as YYYY-MM"),
        ({"start": "Jan 2024"}, "--start: expected a month as YYYY-MM"),
        ({"start": "2025-06", "end": "2024-01"}, "--start 2025-06 is after --end 2024-01"),
        ({"partitions": 0}, "--partitions must be at least 1"),
        ({"influx": "2021-06:none"}, r"^--influx 2021-06:none: SHARE is newcomers per member of the cohort, above 0"),
        ({"influx": "2021-06:0"}, r"^--influx 2021-06:0: SHARE is newcomers per member"),
        ({"influx": "June"}, r"^--influx: expected a month as YYYY-MM, got 'June'$"),
        ({"influx": "2022-01"}, r"^--influx 2022-01: the month must lie between --start and the data cut-off"),
        ({"drift": "gout:2021-06"}, r"^--coding-drift gout:2021-06: expected CONDITION:YYYY-MM\[:KEPT\]"),
    ],
)
def test_bad_generator_parameters(kwargs, message):
    args = {"members": 10, "seed": 1, "start": "2021-01", "end": "2021-12", "partitions": None, **kwargs}
    with pytest.raises(DataError, match=message):
        cohort_spec(
            args["members"],
            args["seed"],
            args["start"],
            args["end"],
            args["partitions"],
            drift=args.get("drift"),
            influx=args.get("influx"),
        )


def test_an_influx_adds_newcomers_never_enrolled_before_and_changes_no_one_else():
    """`hrob data generate --influx 2025-01:0.5`: 2,000 more members whose first pregnancy
    reaches week 12 from January 2025 and starts with no enrolment before it; the cohort's
    own members are simulated exactly as without the influx."""
    spec = cohort_spec(4000, 11, "2023-01", "2026-06", influx="2025-01:0.5")
    assert spec.all_members == 6000
    plain = simulate(np.arange(1, 4001), cohort_spec(4000, 11, "2023-01", "2026-06"))
    drifted = simulate(np.arange(1, spec.all_members + 1), spec)
    own = drifted["member_id"] <= 4000
    for name, values in plain.items():
        assert np.array_equal(values, drifted[name][own], equal_nan=values.dtype.kind == "f"), name
    new = ~own
    first = new & (drifted["k"] == 1)
    assert len(np.unique(drifted["member_id"][new])) > 1900, "nearly every newcomer pregnant before the cut-off"
    assert drifted["week12_day"][new].min() >= day_number(date(2025, 1, 1))
    assert not drifted["prior_enrolled"][first].any() and not drifted["has_pre_span"][first].any()
    assert (drifted["pregnancy_span_start_day"][first] > drifted["lmp_day"][first]).all(), "enrolled once pregnant"
    assert 0.45 < drifted["prior_enrolled"][own].mean() < 0.75, "the cohort's own members as before"


def test_the_cut_off_defaults_to_today():
    spec = cohort_spec(10, 1, "2021-01", None, today=date(2026, 11, 28))
    assert spec.end == date(2026, 11, 28)
    assert cohort_spec(10, 1, "2021-01", "2026-02").end == date(2026, 2, 28), "a month given: its last day"


def test_prenatal_care_starts_at_the_published_shares(cohort):
    from ml.synth.params import PRENATAL_START_TARGETS

    weeks = cohort["prenatal_start_week"][~cohort["lost"]]  # shares of births
    observed = {
        "first": np.mean(weeks < 14),
        "second": np.mean((weeks >= 14) & (weeks < 28)),
        "third": np.mean(weeks >= 28),
        "none": np.mean(np.isnan(weeks)),
    }
    for name, target in PRENATAL_START_TARGETS.items():
        assert abs(observed[name] - target) < 0.03, (name, observed[name])


def test_losses_end_a_sixth_of_pregnancies_early_with_their_codes(cohort):
    """Spontaneous and induced losses and ectopic pregnancies at the published shares
    (params.LOSS_TARGETS), in the first half of pregnancy, with no birth outcome, and the
    next pregnancy after them."""
    from ml.synth.params import LOSS_TARGETS

    lost = cohort["lost"]
    assert 0.15 <= lost.mean() <= 0.20
    for name, target in LOSS_TARGETS.items():
        assert abs((cohort["loss_type"] == name).mean() - target) < 0.4 * target, name
    weeks = cohort["weeks"][lost]
    assert weeks.min() >= 6 and weeks.max() < 20
    assert not (cohort["composite_true"][lost] | cohort["preterm_true"][lost] | cohort["gdm_true"][lost]).any()
    assert (cohort["pregnancy_end_day"][lost] < cohort["lmp_day"][lost] + 20 * 7).all()


def test_the_episode_algorithm_estimates_the_lmp_from_the_identifying_claims_weeks(cohort):
    """Gestational age is known only through Z3A codes: the estimated LMP is days, at most a
    few weeks, from the true one, never the same by construction."""
    from ml.data.gestation import code_of, estimated_lmp, weeks_of

    error = cohort["lmp_estimate_day"] - cohort["lmp_day"]
    assert abs(np.median(error)) <= 2
    assert 0.85 <= np.mean(np.abs(error) <= 7) <= 0.98
    assert np.abs(error).max() <= 28
    assert (cohort["lmp_estimate_day"] < cohort["identified_day"]).all()
    assert list(code_of(np.array([5, 8, 12, 45]))) == ["Z3A01", "Z3A08", "Z3A12", "Z3A42"]
    assert list(weeks_of(np.array(["Z3A01", "Z3A12"]))) == [6, 12]
    assert estimated_lmp(np.array([100]), np.array([10]))[0] == 100 - 70 - 3


def test_medical_claims_have_a_tail_to_about_a_year():
    """Most claims arrive within three months; a few percent are months late, up to ~11."""
    from ml.synth.pregnancy import medical_lag

    lag = medical_lag(Streams(3), "lag/medical", np.arange(200_000))
    assert 0.90 <= np.mean(lag <= 90) <= 0.95
    assert 0.20 <= np.mean(lag <= 15) <= 0.45
    assert 200 <= np.quantile(lag, 0.99) <= 365
    assert lag.max() <= 365
