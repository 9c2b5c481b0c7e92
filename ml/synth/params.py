"""Every number the generative model uses, in one place.

Rates, effect sizes and timing come from docs/published_rates.md (sources there). Intercepts were
calibrated by generating 200,000 members and comparing `hrob data profile` with the
targets; the crude (unadjusted) effects recovered from the data are what the targets
describe, so conditional coefficients are a little below the published crude ones
where the risk factors are correlated through the latent factors.
"""

from __future__ import annotations

import math

from ml.data.labels import POSTPARTUM_WINDOW_DAYS

ln = math.log

# ---------------------------------------------------------------- population

RACE_SHARES = {  # Medicaid-financed births
    "white": 0.36,
    "black": 0.25,
    "hispanic": 0.29,
    "asian_pacific_islander": 0.05,
    "american_indian_alaska_native": 0.02,
    "other": 0.03,
}
# Shift of the deprivation factor by group (structural disadvantage).
RACE_DEPRIVATION = {
    "white": 0.0,
    "black": 0.45,
    "hispanic": 0.3,
    "asian_pacific_islander": -0.1,
    "american_indian_alaska_native": 0.5,
    "other": 0.1,
}
RURAL_LOGIT = {
    "base": ln(0.16 / 0.84),
    "white": 0.55,
    "american_indian_alaska_native": 1.2,
    "hispanic": -0.45,
    "asian_pacific_islander": -0.9,
    "black": -0.2,
}

# Age at the first LMP: 14 + lognormal(median 11 years, sd 0.44): ~8% teens, ~7% 35+, ~2.6% 40+.
AGE_LOG_MEDIAN = ln(11.0)
AGE_LOG_SD = 0.44
AGE_FIRST_MAX = 45.0  # first pregnancy in the period; later ones add at most the period's years

# Pre-pregnancy BMI: lognormal with ~33% >= 30 and ~6% >= 40 at the mean of the
# cardiometabolic factor; that factor carries most of its variance.
BMI_LOG_MEAN = 3.255
BMI_LOG_SD = 0.255
BMI_CARDIO_LOADING = 0.8

# Chronic conditions: logit = base + loadings on latent factors (+ age per year over 25,
# + calendar trend per year after 2021). One uniform per member and condition, so a
# condition, once present, stays as age and calendar raise its probability.
CONDITIONS = {
    # name: (base logit, {loading: coefficient})
    "hypertension": (-4.95, {"cardio": 1.0, "age": 0.06, "black": 0.45, "trend": 0.04}),
    "diabetes": (-5.85, {"cardio": 1.15, "age": 0.05, "trend": 0.02}),
    "asthma": (-2.2, {"deprivation": 0.25, "cardio": 0.2, "behavioral": 0.2}),
    "depression": (-2.2, {"behavioral": 1.0}),
    "anxiety": (-2.2, {"behavioral": 0.9}),
    "serious_mental_illness": (-4.4, {"behavioral": 1.3}),
    "opioid_use_disorder": (-5.55, {"behavioral": 1.35, "rural": 0.45, "white": 0.45}),
    "stimulant_use_disorder": (-5.75, {"behavioral": 1.35, "deprivation": 0.3}),
    "alcohol_use_disorder": (-5.3, {"behavioral": 1.2}),
    "tobacco_use": (
        -2.8,
        {
            "behavioral": 0.85,
            "deprivation": 0.3,
            "white": 0.6,
            "american_indian_alaska_native": 0.8,
            "hispanic": -0.95,
            "asian_pacific_islander": -1.0,
            "rural": 0.35,
        },
    ),
    "thyroid_disorder": (-3.2, {"cardio": 0.1, "age": 0.03}),
    "hiv": (-6.8, {"deprivation": 0.5, "black": 1.1}),
    "sickle_cell_disease": (-20.0, {"black": 15.0}),  # ~0.6% of Black members, ~0 otherwise
    "epilepsy": (-5.1, {}),
    "chronic_kidney_disease": (-6.4, {"cardio": 0.7}),
    "lupus": (-6.2, {"black": 0.9}),
    "pcos": (-4.1, {"cardio": 0.5}),
    "anemia": (-2.3, {"deprivation": 0.45, "black": 0.45}),
}
SUBSTANCE_USE = ("opioid_use_disorder", "stimulant_use_disorder", "alcohol_use_disorder")

# Social needs: logit = base + loading on deprivation (and behavioural for some).
SDOH_NEEDS = {
    "food_insecurity": (-1.35, {"deprivation": 0.9}),
    "housing_instability": (-2.0, {"deprivation": 0.95}),
    "transportation": (-2.0, {"deprivation": 0.8, "rural": 0.4}),
    "utilities": (-2.2, {"deprivation": 0.85}),
    "interpersonal_safety": (-3.2, {"deprivation": 0.5, "behavioral": 0.7}),
    "financial_strain": (-1.0, {"deprivation": 0.9}),
    "social_isolation": (-1.9, {"behavioral": 0.8}),
}
# Homelessness is drawn per pregnancy (see HOMELESS below) and is screened too.

# ---------------------------------------------------------------- obstetric history before the period

PARITY_MEAN = (0.25, 0.10)  # geometric mean = a + b * max(age - 17, 0)
PRIOR_PRETERM = (-2.35, {"obstetric": 0.8, "behavioral": 0.3, "black": 0.35})  # among parous
PRIOR_PREECLAMPSIA = (-3.35, {"obstetric": 0.8, "cardio": 0.6})
PRIOR_STILLBIRTH = (-4.5, {"obstetric": 0.6, "black": 0.6})
PRIOR_GDM = (-3.0, {"cardio": 0.8})

# ---------------------------------------------------------------- pregnancy timing

WEEK12_DAYS = 84  # end of the first trimester: event rates differ before and after it
INTERPREGNANCY_MIN_DAYS = 120
INTERPREGNANCY_MEAN_EXTRA_DAYS = 1500
INTERPREGNANCY_AFTER_LOSS_MIN_DAYS = 60  # after a loss, a next pregnancy comes sooner
INTERPREGNANCY_AFTER_LOSS_EXTRA_DAYS = 500
MAX_EPISODES = 4

# ---------------------------------------------------------------- per-pregnancy exposures

TWINS = (ln(0.027 / 0.973), {"age": 0.045})
HOMELESS = (-4.1, {"deprivation": 0.7, "behavioral": 0.3})
INADEQUATE_PRENATAL_CARE = (
    -2.45,
    {"engagement": -1.0, "deprivation": 0.45, "homeless": 0.2, "substance": 0.7},
)
EPISODE_EFFECT_SD = 0.3  # placental/obstetric variation of one pregnancy, shared by outcomes

# ---------------------------------------------------------------- outcomes (logit coefficients)

GDM = {
    "base": -3.85,
    "overweight": ln(1.9),
    "obese_class12": ln(3.0),
    "severe_obese": ln(6.5),
    "age": 0.045,
    "asian_pacific_islander": 0.7,
    "hispanic": 0.3,
    "prior_gdm": 1.6,
    "pcos": 0.5,
    "trend": 0.06,
}
PREECLAMPSIA = {
    "base": -5.6,
    "prior_preeclampsia": ln(32.0),
    "hypertension": ln(5.6),
    "diabetes": ln(2.9),
    "obese": ln(1.6),
    "twins": ln(4.2),
    "nulliparous": ln(12.0),
    "age40": ln(1.5),
    "black": 0.25,
    "gdm": 0.35,
    "cardio": 0.3,
    "obstetric": 0.6,
    "episode": 1.0,
    "trend": 0.03,
}
GESTATIONAL_HYPERTENSION = {
    "base": -3.55,
    "cardio": 1.35,
    "obese": 0.5,
    "nulliparous": 0.35,
    "black": 0.25,
    "twins": 0.4,
    "obstetric": 0.25,
    "episode": 0.6,
    "trend": 0.04,
}
STILLBIRTH = {
    "base": -5.9,
    "black": ln(2.1),
    "tobacco_use": ln(1.5),
    "obese": ln(1.5),
    "preeclampsia": ln(2.5),
    "diabetes": ln(2.5),
    "twins": ln(2.2),
    "age35": ln(1.5),
    "prior_stillbirth": ln(3.0),
    "stimulant_use_disorder": ln(1.8),
    "obstetric": 0.3,
    "episode": 0.8,
}
PRETERM = {
    "base": -3.45,
    "prior_preterm": ln(3.6),
    "tobacco_use": ln(1.1),
    "depression": ln(1.4),
    "inadequate_care": ln(2.3),
    "homeless": 0.0,
    "black": ln(1.45),
    "teen15_17": 0.3,
    "deprivation": 0.1,
    "cardio": 0.25,
    "teen18_19": 0.18,
    "age40": 0.2,
    "twins": ln(14.0),
    "preeclampsia": ln(4.0),
    "hypertension": ln(1.6),
    "diabetes": ln(2.2),
    "opioid_use_disorder": 0.35,
    "stimulant_use_disorder": 0.5,
    "obstetric": 0.8,
    "episode": 1.0,
    "stillbirth": 3.0,
}
# Share of preterm births that are very preterm (< 32 weeks); the domain's very-preterm
# odds ratios for mothers aged 15-17 and 18-19 act here.
VERY_PRETERM = {
    "base": ln(0.15 / 0.85),
    "teen15_17": ln(2.2),
    "teen18_19": ln(1.7),
    "twins": 0.5,
    "stillbirth": 1.2,
    "preeclampsia": 0.3,
}
MODERATE_PRETERM_SHARE = 0.16  # 32-33 weeks, among preterm births that are not very preterm
LATE_PRETERM_WEEKS = {34: 0.25, 35: 0.33, 36: 0.42}
VERY_PRETERM_WEEKS = {24: 0.06, 25: 0.07, 26: 0.09, 27: 0.1, 28: 0.13, 29: 0.15, 30: 0.19, 31: 0.21}
TERM_WEEKS = {37: 0.12, 38: 0.25, 39: 0.37, 40: 0.19, 41: 0.07}

# Median birthweight (g) by completed week, both sexes; twins weigh TWIN_FACTOR as much.
MEDIAN_BIRTHWEIGHT = {
    22: 500,
    23: 580,
    24: 660,
    25: 760,
    26: 870,
    27: 990,
    28: 1120,
    29: 1270,
    30: 1430,
    31: 1610,
    32: 1800,
    33: 2010,
    34: 2230,
    35: 2450,
    36: 2680,
    37: 2900,
    38: 3100,
    39: 3290,
    40: 3420,
    41: 3520,
}
TWIN_FACTOR = 0.86
# log birthweight = log median + BIRTHWEIGHT_SCALE * (shift + logistic noise):
# a logistic residual keeps P(LBW) a sigmoid, so the oracle stays closed-form.
BIRTHWEIGHT_SCALE = 0.072
BIRTHWEIGHT_BASE_SHIFT = 0.55
BIRTHWEIGHT_SHIFT = {
    "tobacco_use": -0.9,
    "preeclampsia": -1.3,
    "homeless": 0.0,
    "depression": -0.35,
    "black": -0.4,
    "deprivation": -0.25,
    "gdm": 0.9,
    "diabetes": 0.6,
    "stimulant_use_disorder": -0.7,
    "opioid_use_disorder": -0.4,
    "stillbirth": -1.5,
    "episode": -0.8,
    "bmi": 0.1,
}
NICU = {
    "base": ln(0.035 / 0.965),
    "very_preterm": 5.0,
    "moderate_preterm": 3.4,
    "late_preterm": 1.6,
    "low_birthweight": 1.3,
    "gdm": 0.45,
    "deprivation": 0.1,
    "diabetes": 0.8,
    "opioid_use_disorder": 1.6,
    "stimulant_use_disorder": 0.6,
    "twins": 0.5,
    "preeclampsia": 0.4,
    "episode": 0.3,
}
SMM = {
    "base": -4.85,
    "black": ln(1.55),
    "opioid_use_disorder": ln(1.15),
    "stimulant_use_disorder": ln(1.5),
    "opioid_and_stimulant": ln(5.1 / (1.5 * 1.9)),
    "rural": ln(1.09),
    "preeclampsia": ln(2.8),
    "hypertension": ln(1.7),
    "diabetes": ln(1.6),
    "twins": ln(1.8),
    "age40": ln(1.6),
    "obese": ln(1.25),
    "preterm": ln(2.0),
    "deprivation": 0.15,
    "stillbirth": ln(2.5),
    "episode": 0.5,
}

# Miscoding: a true high-risk outcome recorded as none; an uncomplicated one recorded as
# high-risk (one spurious component).
FALSE_NEGATIVE = 0.04
FALSE_POSITIVE = 0.01

# ---------------------------------------------------------------- when care starts and the plan learns of it

# Start of prenatal care (docs/published_rates.md): Medicaid about 68% in the first
# trimester, 24% second, 6% third, 2% none before delivery. Inadequate care (about 14% of
# episodes) moves the start late; these shares, by that flag, give those overall figures.
PRENATAL_START_SHARES = {
    False: {"first": 0.774, "second": 0.205, "third": 0.021, "none": 0.0},
    True: {"first": 0.10, "second": 0.45, "third": 0.30, "none": 0.15},
}
PRENATAL_START_DAYS = {"first": (35, 97), "second": (98, 195), "third": (196, 265)}  # gestational days
PRENATAL_START_TARGETS = {"first": 0.68, "second": 0.24, "third": 0.06, "none": 0.02}

# Days from service to the plan receiving the row, by source (docs/published_rates.md):
# medical claims lag 2 days plus a lognormal of median 21 days (about 30% within 15 days,
# 95% within three months, all but a handful within a year); pharmacy claims the same day
# (10% the next); lab feeds 1-7 days; social-needs screenings 0-14 days.
MEDICAL_LAG = {"floor": 2, "median": 21.0, "sigma": 0.85}
# The tail: a share of medical claims is pended, denied and resubmitted, or adjusted, and
# arrives months late (a month is treated as complete only after about 12 months).
MEDICAL_LAG_TAIL = {"share": 0.03, "days": (60, 330), "max_days": 365}
PHARMACY_NEXT_DAY = 0.1
LAB_LAG_DAYS = (1, 7)
SCREENING_LAG_DAYS = (0, 14)

# Pregnancy complications are coded from their onset: gestational diabetes at the
# glucose challenge of weeks 24-28 (to 30), gestational hypertension after week 20,
# preeclampsia mostly in the weeks before delivery (never before week 20).
GDM_DIAGNOSIS_DAYS = (168, 210)
HYPERTENSION_ONSET_FROM_DAY = 140
PREECLAMPSIA_LEAD_MEAN_DAYS = 21

# ---------------------------------------------------------------- enrollment and claims timing

PRIOR_ENROLLMENT = (ln(0.49 / 0.51), {"deprivation": 0.35, "continuous_coverage": 0.9, "later_episode": 0.6})
CONTINUOUS_COVERAGE = ("2020-03-18", "2023-03-31")  # federal public health emergency
POSTPARTUM_EXTENSION_FROM = "2022-04-01"  # 12 months postpartum coverage (ARPA option)
POSTPARTUM_DAYS = (60, 365)  # before and after the extension
CLAIMS_LAG_MEAN_DAYS = 35  # from the end of the outcome window to complete claims
OUTCOME_WINDOW_DAYS = POSTPARTUM_WINDOW_DAYS

# ---------------------------------------------------------------- pregnancy losses

# Of the pregnancies a plan identifies, about 15-20% end without a delivery
# (docs/published_rates.md): spontaneous losses (miscarriage, ~10-12% of clinically
# recognised pregnancies, 80% in the first trimester), induced terminations that reach
# Medicaid claims (covered with state funds in about a third of states) and ectopic
# pregnancies (~1-2%). Each is drawn independently of the birth outcomes, so the outcome
# rates among deliveries keep their calibration; age raises the spontaneous share.
LOSS = {
    # type: (base logit, {loading: coefficient}, {gestational week: share})
    "spontaneous_loss": (
        -2.12,
        {"age35": 0.45, "age40": 0.55, "tobacco_use": 0.2, "prior_stillbirth": 0.3},
        {
            6: 0.12,
            7: 0.16,
            8: 0.16,
            9: 0.14,
            10: 0.12,
            11: 0.1,
            12: 0.06,
            13: 0.04,
            14: 0.03,
            15: 0.03,
            16: 0.02,
            17: 0.01,
        },
    ),
    "induced_loss": (
        -2.95,
        {"teen15_17": 0.4, "teen18_19": 0.3, "deprivation": 0.1},
        {6: 0.2, 7: 0.22, 8: 0.18, 9: 0.13, 10: 0.09, 11: 0.06, 12: 0.05, 13: 0.03, 15: 0.02, 18: 0.02},
    ),
    "ectopic": (-4.6, {"tobacco_use": 0.4}, {6: 0.3, 7: 0.35, 8: 0.25, 9: 0.1}),
}
# Codes of each end (ICD-10-CM): spontaneous abortion, elective termination (encounter
# code; O04 for its complications), ectopic pregnancy.
LOSS_CODES = {"spontaneous_loss": "O039", "induced_loss": "Z332", "ectopic": "O009"}
LOSS_TARGETS = {"spontaneous_loss": 0.11, "induced_loss": 0.05, "ectopic": 0.01}

# ---------------------------------------------------------------- gestational age as coded

# Gestational age reaches claims as Z3A codes (completed weeks) at prenatal visits and at the
# end of the pregnancy. The clinician's dating (first-trimester ultrasound, or the LMP)
# differs from the true LMP by an episode-level error; the plan's episode algorithm
# (ml/data/gestation.py) estimates the LMP from the identifying claim's code.
DATING_ERROR_SD_DAYS = 4.0
