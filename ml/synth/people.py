"""Members: demographics, latent person-level factors and what follows from them.

Five latent factors drive correlated observed features, the way real ones are:
- deprivation: economic stability, housing, food, transport, neighbourhood (domain.md);
- cardio: cardiometabolic risk: BMI, hypertension, diabetes, gestational diabetes;
- behavioral: mental health and substance use, which cluster clinically;
- engagement: how much a member uses routine care. It decides how much of her is
  *observed* (visits, labs ordered, screenings), which makes missingness not at random;
- obstetric: placental/obstetric predisposition, seen only through a member's prior
  pregnancies; it is why preterm birth and preeclampsia recur.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from ml.synth import params as P
from ml.synth.rng import Streams, linear, sigmoid

RACES = tuple(P.RACE_SHARES)
EPOCH = np.datetime64("1970-01-01", "D")


def day_number(value: date) -> int:
    """Days since 1970-01-01: dates are plain integers inside the generator."""
    return int((np.datetime64(value, "D") - EPOCH).astype(np.int64))


@dataclass(frozen=True)
class CodingDrift:
    """A coding-practice change: from `since`, only `kept` of a condition's diagnosis codes
    reach the claims (the condition is as common as before; fewer claims say so)."""

    concept: str  # a key of ml.data.value_sets.CONDITIONS
    since: date
    kept: float = 0.5


@dataclass(frozen=True)
class Influx:
    """New members joining from `since` (a county's members moved to the plan, say): `share`
    of the cohort's member count again, each pregnant when she joins and never enrolled
    before, so the plan has no claims of hers from before the pregnancy."""

    since: date
    share: float = 0.5


@dataclass(frozen=True)
class CohortSpec:
    members: int
    seed: int
    start: date  # first day of the first month
    end: date  # last day of the last month: the data cut-off
    partitions: int
    coding_drift: CodingDrift | None = None
    influx: Influx | None = None

    @property
    def all_members(self) -> int:
        """`members`, then the influx's newcomers (ids above `members`): the cohort's own
        members draw the same random numbers with or without an influx."""
        return self.members + (round(self.influx.share * self.members) if self.influx else 0)

    def newcomer(self, member_id: np.ndarray) -> np.ndarray:
        return member_id > self.members if self.influx else np.zeros(len(member_id), dtype=bool)

    @property
    def start_day(self) -> int:
        return day_number(self.start)

    @property
    def end_day(self) -> int:
        return day_number(self.end)


Arrays = dict[str, np.ndarray]


def race_indicators(race: np.ndarray) -> Arrays:
    return {r: (race == r).astype(np.float64) for r in RACES}


def people(member_id: np.ndarray, rng: Streams) -> Arrays:
    m = member_id
    race = rng.choice(P.RACE_SHARES, "race", m)
    races = race_indicators(race)

    rural_logit = np.full(len(m), P.RURAL_LOGIT["base"])
    for group, shift in P.RURAL_LOGIT.items():
        if group != "base":
            rural_logit += shift * races[group]
    rural = (rng.uniform("rural", m) < sigmoid(rural_logit)).astype(np.float64)

    race_shift = sum(shift * races[group] for group, shift in P.RACE_DEPRIVATION.items())
    age_first = np.maximum(14.0 + np.exp(P.AGE_LOG_MEDIAN + P.AGE_LOG_SD * rng.normal("age", m)), 15.0)
    # The log-normal's tail would put ~1% of first pregnancies past 45 and some past 60:
    # above 40 it is compressed smoothly below AGE_FIRST_MAX (the 40+ share is unchanged).
    soft = P.AGE_FIRST_MAX - 40.0
    age_first = np.where(age_first > 40.0, 40.0 + soft * np.tanh((age_first - 40.0) / soft), age_first)
    deprivation = rng.normal("deprivation", m) + race_shift + 0.25 * rural
    cardio = (
        0.25 * deprivation
        + 0.95 * rng.normal("cardio", m)
        + 0.025 * (age_first - 25)
        + 0.15 * races["black"]
        + 0.1 * races["hispanic"]
        - 0.3 * races["asian_pacific_islander"]
    )
    behavioral = 0.35 * deprivation + 0.93 * rng.normal("behavioral", m) + 0.15 * races["white"] + 0.1 * rural
    engagement = -0.25 * deprivation + 0.95 * rng.normal("engagement", m)
    obstetric = rng.normal("obstetric", m)

    out: Arrays = {
        "member_id": m,
        "race_ethnicity": race,
        "rural": rural,
        "age_first": age_first,
        "deprivation": deprivation,
        "cardio": cardio,
        "behavioral": behavioral,
        "engagement": engagement,
        "obstetric": obstetric,
    }
    ctx = {
        **races,
        **{k: out[k] for k in ("deprivation", "cardio", "behavioral", "engagement", "obstetric", "rural")},
    }

    loading = P.BMI_CARDIO_LOADING
    out["bmi"] = np.clip(
        np.exp(P.BMI_LOG_MEAN + P.BMI_LOG_SD * (loading * cardio + np.sqrt(1 - loading**2) * rng.normal("bmi", m))),
        15.0,
        70.0,
    )
    # A condition's propensity without the age and calendar terms the pregnancy adds;
    # one uniform per member and condition, so a condition once present stays.
    for name, (intercept, loadings) in P.CONDITIONS.items():
        person = {k: v for k, v in loadings.items() if k not in ("age", "trend")}
        out[f"logit_{name}"] = linear(intercept, person, ctx)
        out[f"u_{name}"] = rng.uniform(f"condition/{name}", m)
    for name, (intercept, loadings) in P.SDOH_NEEDS.items():
        out[f"need_{name}"] = rng.uniform(f"need/{name}", m) < sigmoid(linear(intercept, loadings, ctx))

    parity_mean = P.PARITY_MEAN[0] + P.PARITY_MEAN[1] * np.maximum(age_first - 17, 0.0)
    parity = np.minimum(rng.geometric(parity_mean, "parity", m), 6)
    out["parity_before"] = parity
    for name, (intercept, loadings) in (
        ("prior_preterm_before", P.PRIOR_PRETERM),
        ("prior_preeclampsia_before", P.PRIOR_PREECLAMPSIA),
        ("prior_stillbirth_before", P.PRIOR_STILLBIRTH),
        ("prior_gdm_before", P.PRIOR_GDM),
    ):
        # More earlier births, more chances: the logit grows with log parity.
        logit = linear(intercept, loadings, ctx) + 0.5 * np.log(np.maximum(parity, 1))
        out[name] = (parity > 0) & (rng.uniform(name, m) < sigmoid(logit))

    adi = np.clip(50.0 + 22.0 * deprivation + 10.0 * rural + 14.0 * rng.normal("adi", m), 1, 100).round()
    svi = sigmoid(0.9 * deprivation + 0.6 * rng.normal("svi", m)).round(4)
    geocoded = rng.uniform("geocoded", m) > 0.02 + 0.08 * out["need_housing_instability"]
    out["area_deprivation_index"] = np.where(geocoded, adi, np.nan)
    out["social_vulnerability_index"] = np.where(geocoded, svi, np.nan)
    out["primary_language"] = _language(race, rng.uniform("language", m))
    return out


def _language(race: np.ndarray, u: np.ndarray) -> np.ndarray:
    language = np.full(len(race), "english", dtype=object)
    language[(race == "hispanic") & (u < 0.42)] = "spanish"
    language[(race == "asian_pacific_islander") & (u < 0.33)] = "other"
    language[~np.isin(race, ["hispanic", "asian_pacific_islander"]) & (u < 0.012)] = "other"
    return language
