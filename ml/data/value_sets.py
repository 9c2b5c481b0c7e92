"""Value sets: which codes mean which clinical concept.

The synthetic generator draws codes from these lists and the feature job maps codes
back to concepts with them, so a concept's definition lives here only. Codes are real
ICD-10-CM codes (prefix matches, as claims analysts write value sets); drug classes,
lab tests and screening domains are the categories a plan's data platform curates.
"""

from __future__ import annotations

# Chronic and behavioural conditions: outside pregnancy codes, then pregnancy (O) codes.
CONDITIONS: dict[str, tuple[str, ...]] = {
    "hypertension": ("I10", "I11", "I12", "I13", "I15", "O10", "O11"),
    "diabetes": ("E10", "E11", "E13", "O240", "O241", "O243", "O248"),
    "obesity": ("E66", "Z683", "Z684", "O9921"),
    "asthma": ("J45", "O9951"),
    "depression": ("F32", "F33", "F341", "O9934"),
    "anxiety": ("F41", "F43"),
    "serious_mental_illness": ("F20", "F25", "F31"),
    "opioid_use_disorder": ("F11", "O9932"),
    "stimulant_use_disorder": ("F14", "F15"),
    "alcohol_use_disorder": ("F10", "O9931"),
    "tobacco_use": ("F17", "Z720", "O9933"),
    "thyroid_disorder": ("E03", "E05", "E06", "O9928"),
    "hiv": ("B20", "Z21", "O987"),
    "sickle_cell_disease": ("D57",),
    "epilepsy": ("G40", "O9935"),
    "chronic_kidney_disease": ("N18", "O2683"),
    "lupus": ("M32",),
    "pcos": ("E282",),
    "anemia": ("D50", "D64", "O9901"),
}

# Codes that record obstetric history; seen at the first prenatal visits.
OBSTETRIC_HISTORY: dict[str, tuple[str, ...]] = {
    "history_preterm_birth": ("O0921", "Z8751"),
    "history_preeclampsia": ("Z8759",),
    "history_poor_outcome": ("O0929", "O0911"),
    "advanced_maternal_age": ("O0951", "O0952"),
    "young_maternal_age": ("O0961", "O0962"),
    "multiple_gestation": ("O30",),
    "short_interpregnancy_interval": ("O0989",),
}

# Pregnancy complications coded after they arise (after the index date, mostly).
PREGNANCY_COMPLICATIONS: dict[str, tuple[str, ...]] = {
    "gestational_diabetes": ("O2441",),
    "gestational_hypertension": ("O13",),
    "preeclampsia": ("O14", "O15", "O11"),
    "preterm_labor": ("O60",),
    "hyperemesis": ("O21",),
    "urinary_infection_in_pregnancy": ("O23",),
    "fetal_growth_restriction": ("O3659",),
}

# Social-determinant Z-codes, by the screening domain they document.
SDOH_ZCODES: dict[str, tuple[str, ...]] = {
    "food_insecurity": ("Z5941", "Z5948"),
    "housing_instability": ("Z5981", "Z591"),
    "homelessness": ("Z590",),
    "transportation": ("Z5982",),
    "utilities": ("Z5912",),
    "interpersonal_safety": ("Z6981", "Z9141", "Z630"),
    "financial_strain": ("Z5986", "Z560", "Z597"),
    "social_isolation": ("Z602", "Z604"),
}

SDOH_DOMAINS = tuple(SDOH_ZCODES)

# Hypertension by onset (ml/features/landmarks.py decides what is already known with these):
# chronic hypertension, outside or in pregnancy (O10: pre-existing, complicating pregnancy);
# hypertension arising in this pregnancy: superimposed preeclampsia (O11), gestational
# hypertension (O13), preeclampsia (O14), eclampsia (O15), unspecified (O16).
CHRONIC_HYPERTENSION = ("I10", "I11", "I12", "I13", "I15", "O10")
PREGNANCY_HYPERTENSION = ("O11", "O13", "O14", "O15", "O16")
GESTATIONAL_DIABETES = ("O2441",)

# ICD-10-CM chapters by the first characters of the code (inclusive ranges).
ICD10_CHAPTERS: tuple[tuple[str, str, str], ...] = (
    ("infectious", "A00", "B99"),
    ("neoplasms", "C00", "D49"),
    ("blood", "D50", "D89"),
    ("endocrine", "E00", "E89"),
    ("mental", "F01", "F99"),
    ("nervous", "G00", "G99"),
    ("eye", "H00", "H59"),
    ("ear", "H60", "H95"),
    ("circulatory", "I00", "I99"),
    ("respiratory", "J00", "J99"),
    ("digestive", "K00", "K95"),
    ("skin", "L00", "L99"),
    ("musculoskeletal", "M00", "M99"),
    ("genitourinary", "N00", "N99"),
    ("pregnancy", "O00", "O9A"),
    ("perinatal", "P00", "P96"),
    ("congenital", "Q00", "Q99"),
    ("symptoms", "R00", "R99"),
    ("injury", "S00", "T88"),
    ("external_causes", "V00", "Y99"),
    ("health_status", "Z00", "Z99"),
)
ICD10_CHAPTER_NAMES = tuple(name for name, _, _ in ICD10_CHAPTERS)

ENCOUNTER_TYPES = (
    "primary_care",
    "emergency",
    "inpatient",
    "behavioral_health",
    "prenatal",
    "mfm_specialist",
)

DRUG_CLASSES = (
    "antihypertensive",
    "insulin",
    "metformin",
    "antidepressant",
    "antipsychotic",
    "opioid_use_disorder_treatment",
    "opioid_analgesic",
    "asthma_controller",
    "levothyroxine",
    "antibiotic",
    "prenatal_vitamin",
    "antiemetic",
    "low_dose_aspirin",
    "progesterone",
    "nicotine_replacement",
    "contraceptive",
)

# test -> (unit, abnormal when: ">=" or "<" threshold, or "positive" for 0/1 results)
LAB_TESTS: dict[str, tuple[str, str, float]] = {
    "hba1c": ("%", ">=", 5.7),
    "glucose_challenge": ("mg/dL", ">=", 140.0),
    "hemoglobin": ("g/dL", "<", 11.0),
    "platelets": ("10^3/uL", "<", 150.0),
    "creatinine": ("mg/dL", ">=", 1.0),
    "urine_protein_ratio": ("mg/mg", ">=", 0.3),
    "tsh": ("mIU/L", ">=", 4.0),
    "urine_drug_screen": ("positive", ">=", 1.0),
    "hiv_screen": ("positive", ">=", 1.0),
    "syphilis_screen": ("positive", ">=", 1.0),
    "bmi": ("kg/m2", ">=", 30.0),
    "systolic_bp": ("mmHg", ">=", 140.0),
}

SCREENING_ANSWERS = ("yes", "no", "declined")


def normalise(code: str) -> str:
    """ICD-10 codes compare without the dot: O09.21 -> O0921."""
    return code.replace(".", "").upper()
