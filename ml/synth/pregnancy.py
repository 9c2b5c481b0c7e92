"""Pregnancy episodes, their outcomes and the oracle, built in sequence for each member.

A member's episodes are generated one after another, so a preterm birth or
preeclampsia in one pregnancy raises the risk of the next (recurrence), parity grows,
and the next pregnancy starts an interpregnancy interval after the delivery.

Outcomes follow one causal order: gestational diabetes -> preeclampsia and gestational
hypertension -> stillbirth -> preterm birth -> gestational age -> birthweight -> NICU,
and severe maternal morbidity. Because the birthweight residual is logistic and every
other step is a logistic draw, the probability that none of the composite's components
happens has a closed form: the oracle sums over gestational diabetes and term weeks.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np

from ml.data.gestation import estimated_lmp
from ml.synth import params as P
from ml.synth.people import Arrays, CohortSpec, day_number, race_indicators
from ml.synth.rng import Streams, linear, sigmoid

REFERENCE_DAY = day_number(date(2021, 1, 1))  # calendar trends are zero here
PHE = tuple(day_number(date.fromisoformat(d)) for d in P.CONTINUOUS_COVERAGE)
POSTPARTUM_EXTENSION_DAY = day_number(date.fromisoformat(P.POSTPARTUM_EXTENSION_FROM))
_LOG_MEDIAN_BW = {w: math.log(g) for w, g in P.MEDIAN_BIRTHWEIGHT.items()}


def outcome_logit(table: dict[str, float], ctx: Arrays, **overrides) -> np.ndarray:
    return linear(table["base"], {k: v for k, v in table.items() if k != "base"}, {**ctx, **overrides})


def birthweight_shift(ctx: Arrays, **overrides) -> np.ndarray:
    return linear(P.BIRTHWEIGHT_BASE_SHIFT, P.BIRTHWEIGHT_SHIFT, {**ctx, **overrides})


def lbw_probability_at(week: int, twins: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """P(birthweight < 2,500 g) at a given week: the birthweight residual is logistic."""
    threshold = (math.log(2500) - _LOG_MEDIAN_BW[week] - math.log(P.TWIN_FACTOR) * twins) / P.BIRTHWEIGHT_SCALE
    return sigmoid(threshold - shift)


def oracle_risk(ctx: Arrays) -> np.ndarray:
    """P(composite) given everything the generator knew at the start of the pregnancy."""
    n = len(ctx["cardio"])
    zero = {
        name: np.zeros(n)
        for name in (
            "preeclampsia",
            "stillbirth",
            "preterm",
            "low_birthweight",
            "very_preterm",
            "moderate_preterm",
            "late_preterm",
        )
    }
    p_gdm = np.where(ctx["diabetes"] > 0, 0.0, sigmoid(outcome_logit(P.GDM, ctx)))
    none_given = []
    for gdm in (np.zeros(n), np.ones(n)):
        q = 1.0 - sigmoid(outcome_logit(P.GESTATIONAL_HYPERTENSION, ctx))
        q *= 1.0 - sigmoid(outcome_logit(P.PREECLAMPSIA, ctx, gdm=gdm))
        q *= 1.0 - sigmoid(outcome_logit(P.STILLBIRTH, ctx, preeclampsia=zero["preeclampsia"]))
        q *= 1.0 - sigmoid(
            outcome_logit(P.PRETERM, ctx, preeclampsia=zero["preeclampsia"], stillbirth=zero["stillbirth"])
        )
        shift = birthweight_shift(ctx, gdm=gdm, preeclampsia=zero["preeclampsia"], stillbirth=zero["stillbirth"])
        q *= sum(share * (1.0 - lbw_probability_at(week, ctx["twins"], shift)) for week, share in P.TERM_WEEKS.items())
        q *= 1.0 - sigmoid(outcome_logit(P.NICU, ctx, gdm=gdm, **zero))
        q *= 1.0 - sigmoid(outcome_logit(P.SMM, ctx, **zero))
        none_given.append(q)
    none = (1.0 - p_gdm) * none_given[0] + p_gdm * none_given[1]
    return 1.0 - (1.0 - ctx["hypertension"]) * none


def _weeks(weights: dict[int, float], rng: Streams, stream: str, *keys) -> np.ndarray:
    return rng.choice(weights, stream, *keys).astype(np.int64)


def episode_step(person: Arrays, k: int, state: Arrays, rng: Streams, spec: CohortSpec) -> tuple[Arrays, Arrays]:
    """Episode k of every member in `person`, and the state episode k+1 starts from."""
    m = person["member_id"]
    key = (m, k)
    n = len(m)

    def draw(stream: str) -> np.ndarray:
        return rng.uniform(stream, *key)

    lmp = state["next_lmp"]
    week12_day = lmp + P.WEEK12_DAYS
    age = person["age_first"] + (lmp - person["first_lmp"]) / 365.25
    trend = (week12_day - REFERENCE_DAY) / 365.25
    bmi = person["bmi"] + 0.7 * (k - 1)  # weight retained across pregnancies

    ctx: Arrays = {
        name: person[name] for name in ("deprivation", "cardio", "behavioral", "engagement", "obstetric", "rural")
    }
    ctx.update(race_indicators(person["race_ethnicity"]))
    present: Arrays = {}
    for name, (_, loadings) in P.CONDITIONS.items():
        logit = person[f"logit_{name}"] + loadings.get("age", 0.0) * (age - 25) + loadings.get("trend", 0.0) * trend
        present[name] = person[f"u_{name}"] < sigmoid(logit)
        ctx[name] = present[name].astype(np.float64)

    def flag(x: np.ndarray) -> np.ndarray:
        return x.astype(np.float64)

    ctx.update(
        age=age - 25,
        trend=trend,
        bmi=(bmi - 27) / 5,
        overweight=flag((bmi >= 25) & (bmi < 30)),
        obese=flag(bmi >= 30),
        obese_class12=flag((bmi >= 30) & (bmi < 40)),
        severe_obese=flag(bmi >= 40),
        teen15_17=flag(age < 18),
        teen18_19=flag((age >= 18) & (age < 20)),
        age35=flag(age >= 35),
        age40=flag(age >= 40),
        nulliparous=flag(state["parity"] == 0),
        prior_preterm=flag(state["prior_preterm"]),
        prior_preeclampsia=flag(state["prior_preeclampsia"]),
        prior_stillbirth=flag(state["prior_stillbirth"]),
        prior_gdm=flag(state["prior_gdm"]),
        substance=flag(
            present["opioid_use_disorder"] | present["stimulant_use_disorder"] | present["alcohol_use_disorder"]
        ),
        opioid_and_stimulant=flag(present["opioid_use_disorder"] & present["stimulant_use_disorder"]),
    )
    twins = draw("twins") < sigmoid(linear(P.TWINS[0], P.TWINS[1], ctx))
    ctx["twins"] = flag(twins)
    homeless = draw("homeless") < sigmoid(linear(*P.HOMELESS, ctx))
    ctx["homeless"] = flag(homeless)
    inadequate = draw("inadequate_care") < sigmoid(linear(*P.INADEQUATE_PRENATAL_CARE, ctx))
    ctx["inadequate_care"] = flag(inadequate)
    ctx["episode"] = P.EPISODE_EFFECT_SD * rng.normal("episode_effect", *key)

    # ---- outcomes, in causal order
    gdm = ~present["diabetes"] & (draw("gdm") < sigmoid(outcome_logit(P.GDM, ctx)))
    pe = draw("preeclampsia") < sigmoid(outcome_logit(P.PREECLAMPSIA, ctx, gdm=flag(gdm)))
    # new hypertension after week 20 in a member without chronic hypertension (with it, a
    # raised pressure is the chronic disease's)
    ghtn = ~present["hypertension"] & (draw("ghtn") < sigmoid(outcome_logit(P.GESTATIONAL_HYPERTENSION, ctx)))
    sb = draw("stillbirth") < sigmoid(outcome_logit(P.STILLBIRTH, ctx, preeclampsia=flag(pe)))
    ptb = draw("preterm") < sigmoid(outcome_logit(P.PRETERM, ctx, preeclampsia=flag(pe), stillbirth=flag(sb)))
    very = ptb & (
        draw("very_preterm") < sigmoid(outcome_logit(P.VERY_PRETERM, ctx, stillbirth=flag(sb), preeclampsia=flag(pe)))
    )
    moderate = ptb & ~very & (draw("moderate_preterm") < P.MODERATE_PRETERM_SHARE)
    late = ptb & ~very & ~moderate
    weeks = np.select(
        [very, moderate, late],
        [
            _weeks(P.VERY_PRETERM_WEEKS, rng, "weeks_very", *key),
            32 + (draw("weeks_moderate") < 0.5).astype(np.int64),
            _weeks(P.LATE_PRETERM_WEEKS, rng, "weeks_late", *key),
        ],
        _weeks(P.TERM_WEEKS, rng, "weeks_term", *key),
    )
    shift = birthweight_shift(ctx, gdm=flag(gdm), preeclampsia=flag(pe), stillbirth=flag(sb))
    log_median = np.vectorize(_LOG_MEDIAN_BW.get)(np.clip(weeks, 22, 41))
    birthweight = np.round(
        np.exp(
            log_median
            + math.log(P.TWIN_FACTOR) * ctx["twins"]
            + P.BIRTHWEIGHT_SCALE * (shift + rng.logistic("birthweight", *key))
        )
    )
    lbw = birthweight < 2500
    nicu = ~sb & (
        draw("nicu")
        < sigmoid(
            outcome_logit(
                P.NICU,
                ctx,
                very_preterm=flag(very),
                moderate_preterm=flag(moderate),
                late_preterm=flag(late),
                low_birthweight=flag(lbw),
                gdm=flag(gdm),
                preeclampsia=flag(pe),
            )
        )
    )
    smm = draw("smm") < sigmoid(
        outcome_logit(P.SMM, ctx, preeclampsia=flag(pe), preterm=flag(ptb), stillbirth=flag(sb))
    )
    delivery = lmp + weeks * 7 + np.floor(draw("delivery_day") * 7).astype(np.int64)

    # ---- pregnancies that end without a delivery: drawn apart from the birth outcomes
    # above (their own streams), which then never happen
    loss_type = pregnancy_loss(ctx, rng, key)
    lost = loss_type != ""
    loss_week = np.zeros(n, dtype=np.int64)
    for name, (_, _, week_shares) in P.LOSS.items():
        chosen = loss_type == name
        loss_week[chosen] = _weeks(week_shares, rng, f"loss_week/{name}", *key)[chosen]
    loss_day = lmp + loss_week * 7 + np.floor(draw("loss_day") * 7).astype(np.int64)
    end = np.where(lost, np.minimum(loss_day, delivery - 1), delivery)
    delivered = ~lost
    gdm, pe, ghtn, sb, ptb, very, moderate, late, lbw, nicu, smm = (
        x & delivered for x in (gdm, pe, ghtn, sb, ptb, very, moderate, late, lbw, nicu, smm)
    )
    hdp = (present["hypertension"] & delivered) | pe | ghtn
    composite = ptb | lbw | smm | hdp | sb | nicu
    missed = composite & (draw("false_negative") < P.FALSE_NEGATIVE)
    spurious = delivered & ~composite & (draw("false_positive") < P.FALSE_POSITIVE)
    spurious_hdp = spurious & (draw("spurious_component") < 0.6)
    postpartum_end = end + np.where(end < POSTPARTUM_EXTENSION_DAY, *P.POSTPARTUM_DAYS)

    # ---- when prenatal care starts, and when the plan learns of the pregnancy and its end
    first_visit = lmp + prenatal_start_day(inadequate, draw("prenatal_start"), draw("prenatal_start_day"))
    first_visit = np.where((first_visit > lmp) & (first_visit < end), first_visit, -1)  # -1: none before the end
    end_recorded = end + 2 + medical_lag(rng, "delivery_claim_lag", *key)
    first_claim = first_visit + medical_lag(rng, "identification_lag", *key)
    # the first visit's claim, or at the latest (no visit, or that claim very late) the end's
    identified = np.where(first_visit >= 0, np.minimum(first_claim, end_recorded), end_recorded)
    identified_by_visit = (first_visit >= 0) & (first_claim <= end_recorded)
    # the clinician's dating, as Z3A codes carry it, and the episode algorithm's estimate
    # from the identifying claim's code (ml/data/gestation.py)
    dating_error = np.round(P.DATING_ERROR_SD_DAYS * rng.normal("dating_error", *key)).astype(np.int64)
    identifying_day = np.where(identified_by_visit, first_visit, end)
    lmp_estimate = estimated_lmp(identifying_day, coded_weeks(identifying_day, lmp, dating_error))
    to_end = end - lmp
    gdm_diagnosed = np.minimum(lmp + _uniform_days(draw("gdm_diagnosis"), *P.GDM_DIAGNOSIS_DAYS), end - 1)
    onset_from = np.minimum(lmp + P.HYPERTENSION_ONSET_FROM_DAY, end - 1)
    ghtn_onset = onset_from + np.floor(np.sqrt(draw("ghtn_onset")) * (end - onset_from)).astype(np.int64)
    pe_lead = np.floor(-np.log(draw("preeclampsia_onset")) * P.PREECLAMPSIA_LEAD_MEAN_DAYS).astype(np.int64)
    pe_onset = np.maximum(end - 1 - pe_lead, onset_from)

    # ---- enrollment before the pregnancy (claims are observed only while enrolled)
    coverage_end = state["coverage_end"]  # -1: none
    continuous = (coverage_end >= 0) & (coverage_end >= lmp - 1)
    phe = (lmp >= PHE[0]) & (lmp <= PHE[1])
    enroll_ctx = {**ctx, "continuous_coverage": flag(phe), "later_episode": np.full(n, float(k > 1))}
    prior_enrolled = continuous | (draw("prior_enrolled") < sigmoid(linear(*P.PRIOR_ENROLLMENT, enroll_ctx)))
    if k == 1:  # an influx's newcomer joins during her first pregnancy with the plan
        prior_enrolled &= ~spec.newcomer(m)
    months_before = np.minimum(3.0 - np.log(draw("months_enrolled")) * 20.0, 60.0)
    pre_start = lmp - (months_before * 30.4).astype(np.int64)
    pre_start = np.where(coverage_end >= 0, np.maximum(pre_start, coverage_end + 31), pre_start)
    gap_start = pre_start + (draw("gap_start") * (lmp - pre_start)).astype(np.int64)
    gap_end = gap_start + (30 + draw("gap_length") * 90).astype(np.int64)
    pregnancy_span_start = np.select(
        [continuous, prior_enrolled],
        [coverage_end + 1, lmp],
        lmp + (35 + draw("enrolment_delay") * 45).astype(np.int64),
    )
    next_lmp = end + np.where(
        lost,
        P.INTERPREGNANCY_AFTER_LOSS_MIN_DAYS - np.log(draw("interpregnancy")) * P.INTERPREGNANCY_AFTER_LOSS_EXTRA_DAYS,
        P.INTERPREGNANCY_MIN_DAYS - np.log(draw("interpregnancy")) * P.INTERPREGNANCY_MEAN_EXTRA_DAYS,
    ).astype(np.int64)

    episode: Arrays = {
        "k": np.full(n, k),
        "lmp_day": lmp,
        "week12_day": week12_day,
        "first_visit_day": first_visit,
        "prenatal_start_week": np.where(first_visit >= 0, (first_visit - lmp) / 7.0, np.nan),
        "identified_day": identified,
        "lmp_estimate_day": lmp_estimate,
        "dating_error_days": dating_error,
        "pregnancy_end_day": end,
        "end_recorded_day": end_recorded,
        "lost": lost,
        "loss_type": loss_type,
        "gestation_days": to_end,
        "gdm_diagnosed_day": gdm_diagnosed,
        "ghtn_onset_day": ghtn_onset,
        "preeclampsia_onset_day": pe_onset,
        "weeks": np.where(lost, loss_week, weeks),
        "twins": twins,
        "age": age,
        **present,
        "bmi_k": bmi,
        "parity": state["parity"],
        "prior_preterm": state["prior_preterm"],
        "prior_preeclampsia": state["prior_preeclampsia"],
        "prior_stillbirth": state["prior_stillbirth"],
        "prior_gdm": state["prior_gdm"],
        "prior_delivery_day": state["prior_delivery"],
        "homeless": homeless,
        "inadequate_care": inadequate,
        "episode_effect": ctx["episode"],
        "gdm_true": gdm,
        "preeclampsia_true": pe,
        "ghtn_true": ghtn,
        "stillbirth_true": sb,
        "preterm_true": ptb,
        "very_preterm": very,
        "birthweight": birthweight.astype(np.int64),
        "lbw_true": lbw,
        "nicu_true": nicu,
        "smm_true": smm,
        "hdp_true": hdp,
        "composite_true": composite,
        "missed": missed,
        "spurious_hdp": spurious_hdp,
        "spurious_nicu": spurious & ~spurious_hdp,
        "true_risk": oracle_risk(ctx),
        "postpartum_end_day": postpartum_end,
        # complete once the window closed and its claims came in, never before the delivery's own claim
        "recorded_day": np.maximum(
            end
            + P.OUTCOME_WINDOW_DAYS
            + np.floor(-np.log(draw("claims_lag")) * P.CLAIMS_LAG_MEAN_DAYS).astype(np.int64),
            end_recorded + 1,
        ),
        "prior_enrolled": prior_enrolled,
        "has_pre_span": prior_enrolled & ~continuous & (pre_start < lmp),
        "pre_start_day": pre_start,
        "churn_gap": (draw("churn") < 0.3) & (gap_end < lmp - 1),
        "gap_start_day": gap_start,
        "gap_end_day": gap_end,
        "pregnancy_span_start_day": pregnancy_span_start,
        "next_lmp_day": next_lmp,
    }
    new_state: Arrays = {
        "next_lmp": next_lmp,
        "coverage_end": postpartum_end,
        "parity": state["parity"] + delivered,  # births at 20 weeks or later
        "prior_preterm": state["prior_preterm"] | ptb,
        "prior_preeclampsia": state["prior_preeclampsia"] | pe,
        "prior_stillbirth": state["prior_stillbirth"] | sb,
        "prior_gdm": state["prior_gdm"] | gdm,
        "prior_delivery": np.where(delivered, end, state["prior_delivery"]),
    }
    return episode, new_state


def pregnancy_loss(ctx: Arrays, rng: Streams, key: tuple) -> np.ndarray:
    """How each pregnancy ends without a delivery ("" when it is delivered): an ectopic
    pregnancy first, then a spontaneous loss, then an induced one, each its own draw."""
    n = len(ctx["age"])
    out = np.full(n, "", dtype=object)
    for name, (base, loadings, _) in sorted(P.LOSS.items(), key=lambda item: item[0] != "ectopic"):
        happens = (out == "") & (rng.uniform(f"loss/{name}", *key) < sigmoid(linear(base, loadings, ctx)))
        out[happens] = name
    return out.astype(str)


def coded_weeks(day: np.ndarray, lmp: np.ndarray, dating_error: np.ndarray) -> np.ndarray:
    """Completed weeks a claim on `day` codes (Z3A), by the clinician's dating."""
    return np.maximum((day - lmp + dating_error) // 7, 0)


def _uniform_days(u: np.ndarray, low: int, high: int) -> np.ndarray:
    return low + np.floor(u * (high - low + 1)).astype(np.int64)


def prenatal_start_day(inadequate: np.ndarray, u_category: np.ndarray, u_day: np.ndarray) -> np.ndarray:
    """Gestational day of the first prenatal visit; 0 for none (published shares by trimester)."""
    start = np.zeros(len(u_category), dtype=np.int64)
    for flag in (False, True):
        shares = P.PRENATAL_START_SHARES[flag]
        rows = inadequate == flag
        upper = np.cumsum([shares[c] for c in ("first", "second", "third")])
        category = np.searchsorted(upper, u_category[rows], side="right")  # 0, 1, 2; 3 = none
        for index, name in enumerate(("first", "second", "third")):
            chosen = np.flatnonzero(rows)[category == index]
            start[chosen] = _uniform_days(u_day[chosen], *P.PRENATAL_START_DAYS[name])
    return start


def medical_lag(rng: Streams, stream: str, *keys) -> np.ndarray:
    """Days from service to the plan receiving a medical claim (params.MEDICAL_LAG, with a
    tail of pended and resubmitted claims: params.MEDICAL_LAG_TAIL)."""
    lag, tail = P.MEDICAL_LAG, P.MEDICAL_LAG_TAIL
    days = lag["floor"] + np.round(lag["median"] * np.exp(lag["sigma"] * rng.normal(stream, *keys))).astype(np.int64)
    low, high = tail["days"]
    late = rng.uniform(f"{stream}/tail", *keys) < tail["share"]
    days = days + np.where(late, low + np.floor(rng.uniform(f"{stream}/tail_days", *keys) * (high - low)), 0)
    return np.minimum(days, tail["max_days"]).astype(np.int64)


def episodes(person: Arrays, rng: Streams, spec: CohortSpec) -> Arrays:
    """Every episode whose twelfth week lies inside the period, with its member's columns."""
    m = person["member_id"]
    span = spec.end_day - spec.start_day
    first_index = rng.uniform("first_index", m)
    first_week12 = spec.start_day + (first_index * span).astype(np.int64)
    if spec.influx:  # newcomers' first pregnancies reach week 12 from the influx's month on
        since = max(day_number(spec.influx.since), spec.start_day)
        joined = since + (first_index * (spec.end_day - since)).astype(np.int64)
        first_week12 = np.where(spec.newcomer(m), joined, first_week12)
    person = {**person, "first_lmp": first_week12 - P.WEEK12_DAYS}
    person["birth_day"] = person["first_lmp"] - (person["age_first"] * 365.25).astype(np.int64)
    state: Arrays = {
        "next_lmp": person["first_lmp"],
        "coverage_end": np.full(len(m), -1, dtype=np.int64),
        "parity": person["parity_before"],
        "prior_preterm": person["prior_preterm_before"],
        "prior_preeclampsia": person["prior_preeclampsia_before"],
        "prior_stillbirth": person["prior_stillbirth_before"],
        "prior_gdm": person["prior_gdm_before"],
        "prior_delivery": np.full(len(m), -1, dtype=np.int64),
    }
    parts: list[Arrays] = []
    for k in range(1, P.MAX_EPISODES + 1):
        episode, state = episode_step(person, k, state, rng, spec)
        keep = episode["week12_day"] <= spec.end_day
        if not keep.any():
            break
        rows = {name: values[keep] for name, values in person.items()}
        rows.update({name: values[keep] for name, values in episode.items()})
        parts.append(rows)
    out = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    out["episode_id"] = out["member_id"] * 10 + out["k"]
    return out
