"""Outcome columns of an episode. The composite HROB label is any of its components.

Each component is kept as its own column, so other labels can be trained on the
same features by naming them in configs/project.yml (model.label).
"""

COMPOSITE_LABEL = "high_risk"
POSTPARTUM_WINDOW_DAYS = 42  # outcomes count from the index date to 42 days after the delivery

# Components of the composite label, from the index date to 42 days postpartum.
COMPOSITE_COMPONENTS = (
    "preterm_birth",
    "low_birthweight",
    "severe_maternal_morbidity",
    "hypertensive_disorder",
    "stillbirth",
    "nicu_admission",
)

# The hypertensive component's parts, each with an onset of its own: what counts as new at
# a landmark is decided part by part (ml/features/landmarks.py). Preeclampsia superimposed on
# chronic hypertension is new even where the chronic hypertension was known.
HYPERTENSIVE_PARTS = ("chronic_hypertension", "gestational_hypertension", "preeclampsia", "superimposed_preeclampsia")

# Recorded but not part of the composite.
OTHER_OUTCOMES = ("gestational_diabetes",)

LABELS = (COMPOSITE_LABEL, *COMPOSITE_COMPONENTS, *HYPERTENSIVE_PARTS, *OTHER_OUTCOMES)

# Every outcome column in report order: prior-outcome features and the profile use it.
OUTCOME_COLUMNS = (
    "preterm_birth",
    "low_birthweight",
    "severe_maternal_morbidity",
    "hypertensive_disorder",
    "chronic_hypertension",
    "gestational_hypertension",
    "preeclampsia",
    "superimposed_preeclampsia",
    "gestational_diabetes",
    "stillbirth",
    "nicu_admission",
    COMPOSITE_LABEL,
)
assert set(OUTCOME_COLUMNS) == set(LABELS)
