"""Every feature the feature job computes, defined once: name, default group, source,
how it is aggregated, and a readable description (used in outreach lists).

Names are `<group>__<concept>__<measure>`, with the look-back window in the measure
(`condition__hypertension__count_12m`). Windows come from configs/project.yml
(features.lookback_months). All of them look only at data dated strictly before the
as-of date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ml.data import value_sets as V
from ml.data.labels import HYPERTENSIVE_PARTS, OUTCOME_COLUMNS

RACES = ("white", "black", "hispanic", "asian_pacific_islander", "american_indian_alaska_native", "other")
RACE_NAMES = {
    "asian_pacific_islander": "Asian or Pacific Islander",
    "american_indian_alaska_native": "American Indian or Alaska Native",
}
LANGUAGES = ("english", "spanish", "other")
ELIGIBILITY = ("pregnancy", "adult_expansion", "family", "disability")
# Earlier pregnancies' outcomes; the hypertensive parts stay inside the prior hypertensive
# disorder (chronic hypertension has a condition group of its own)
PRIOR_OUTCOMES = tuple(c for c in OUTCOME_COLUMNS if c not in HYPERTENSIVE_PARTS or c == "preeclampsia")

READABLE = {
    "primary_care": "primary care visits",
    "emergency": "emergency visits",
    "inpatient": "hospital stays",
    "behavioral_health": "behavioral health visits",
    "prenatal": "prenatal visits",
    "mfm_specialist": "maternal-fetal medicine visits",
}


@dataclass(frozen=True)
class Feature:
    name: str
    group: str  # default group; feature_mappings.yml decides
    source: str  # which computation produces it
    kind: str  # how it is aggregated (see ml/features/compute.py)
    description: str
    concept: str = ""  # code concept, encounter type, drug class, lab test, ...
    window: int | None = None  # months


def _words(name: str) -> str:
    return name.replace("_", " ")


# Words a readable name spells their own way (acronyms, languages, peoples): care managers
# read these names as a member's top factors, so "Last BMI result", never "Last bmi result".
_SPELLING = {
    word.lower(): word
    for word in (
        "BMI", "HbA1c", "HIV", "TSH", "PCOS", "NICU", "BP", "Z", "English", "Spanish",
        "American", "Indian", "Alaska", "Native", "Asian", "Black", "White", "Hispanic",
        "Pacific", "Islander", "Hawaiian",
    )
}  # fmt: skip


def sentence(text: str) -> str:
    """`text` as a sentence: first letter upper case, known words spelled their way."""
    text = re.sub(r"^history (?!of )", "history of ", text, flags=re.IGNORECASE)  # "history_preeclampsia"
    text = re.sub(r"[A-Za-z0-9]+", lambda m: _SPELLING.get(m.group().lower(), m.group()), text)
    return text[:1].upper() + text[1:]


def catalogue(windows: list[int]) -> list[Feature]:
    """The full feature list for the configured windows, in a stable order."""
    f: list[Feature] = []

    def add(name: str, group: str, source: str, kind: str, description: str, **more) -> None:
        f.append(Feature(name, group, source, kind, sentence(description), **more))

    # demographics and area (members table)
    add("demographics__age_years", "demographics", "members", "age", "Age (years)")
    for flag, text in (
        ("under_18", "Age under 18"),
        ("18_19", "Age 18-19"),
        ("35_plus", "Age 35 or older"),
        ("40_plus", "Age 40 or older"),
    ):
        add(f"demographics__age__{flag}", "demographics", "members", f"age_{flag}", text)
    for race in RACES:
        add(
            f"demographics__race__{race}",
            "demographics",
            "members",
            "race",
            f"Race/ethnicity: {RACE_NAMES.get(race, _words(race))}",
            concept=race,
        )
    for language in LANGUAGES:
        add(
            f"demographics__language__{language}",
            "demographics",
            "members",
            "language",
            f"Primary language: {language}",
            concept=language,
        )
    add("demographics__rural", "demographics", "members", "rural", "Lives in a rural area")
    add("area__deprivation_index", "area", "members", "adi", "Area deprivation index (national percentile)")
    add("area__deprivation_top_quintile", "area", "members", "adi_top", "Lives in the most deprived fifth of areas")
    add("area__social_vulnerability_index", "area", "members", "svi", "Social vulnerability index")

    # enrollment continuity
    for w in windows:
        add(
            f"enrollment__days_enrolled__{w}m",
            "enrollment",
            "enrollment",
            "enrolled_days",
            f"Days enrolled in the last {w} months",
            window=w,
        )
    add("enrollment__spans__24m", "enrollment", "enrollment", "spans", "Enrollment spans in the last 24 months")
    add("enrollment__enrolled_at_as_of", "enrollment", "enrollment", "enrolled_now", "Enrolled today")
    add(
        "enrollment__current_span_days",
        "enrollment",
        "enrollment",
        "current_span_days",
        "Days since the current enrollment span began",
    )
    for category in ELIGIBILITY:
        add(
            f"enrollment__category__{category}",
            "enrollment",
            "enrollment",
            "category",
            f"Current eligibility: {_words(category)}",
            concept=category,
        )

    # diagnoses: chapters, conditions, obstetric history, complications, Z-codes
    for chapter in V.ICD10_CHAPTER_NAMES:
        for w in windows:
            add(
                f"dx_chapter__{chapter}__count_{w}m",
                "dx_chapter",
                "diagnoses",
                "count",
                f"Diagnoses of the {_words(chapter)} chapter in the last {w} months",
                concept=chapter,
                window=w,
            )
        add(
            f"dx_chapter__{chapter}__days_since_last",
            "dx_chapter",
            "diagnoses",
            "recency",
            f"Days since the last {_words(chapter)} diagnosis",
            concept=chapter,
        )
    for concept_group, value_set, group in (
        ("condition", V.CONDITIONS, "condition"),
        ("ob_history", V.OBSTETRIC_HISTORY, "ob_history"),
        ("complication", V.PREGNANCY_COMPLICATIONS, "pregnancy_complication"),
    ):
        for concept in value_set:
            for w in windows:
                add(
                    f"{group}__{concept}__count_{w}m",
                    group,
                    "diagnoses",
                    "count",
                    f"{_words(concept).capitalize()} coded in the last {w} months",
                    concept=f"{concept_group}:{concept}",
                    window=w,
                )
            if group == "condition":
                add(
                    f"{group}__{concept}__days_since_last",
                    group,
                    "diagnoses",
                    "recency",
                    f"Days since {_words(concept)} was last coded",
                    concept=f"{concept_group}:{concept}",
                )
    for domain in V.SDOH_ZCODES:
        for w in (12, 24):
            add(
                f"sdoh_zcode__{domain}__count_{w}m",
                "sdoh_zcode",
                "diagnoses",
                "count",
                f"{_words(domain).capitalize()} Z-code in the last {w} months",
                concept=f"zcode:{domain}",
                window=w,
            )
    add(
        "sdoh_zcode__any__count_24m",
        "sdoh_zcode",
        "diagnoses",
        "count",
        "Any social-needs Z-code in the last 24 months",
        concept="zcode:any",
        window=24,
    )

    # utilisation
    for kind in V.ENCOUNTER_TYPES:
        for w in windows:
            add(
                f"utilization__{kind}__count_{w}m",
                "utilization",
                "encounters",
                "count",
                f"{READABLE[kind].capitalize()} in the last {w} months",
                concept=kind,
                window=w,
            )
        add(
            f"utilization__{kind}__days_since_last",
            "utilization",
            "encounters",
            "recency",
            f"Days since the last of the {READABLE[kind]}",
            concept=kind,
        )
    for w in windows:
        add(
            f"utilization__inpatient__days_in_hospital_{w}m",
            "utilization",
            "encounters",
            "stay_days",
            f"Days in hospital in the last {w} months",
            concept="inpatient",
            window=w,
        )

    # pharmacy
    for drug in V.DRUG_CLASSES:
        for w in windows:
            add(
                f"pharmacy__{drug}__fills_{w}m",
                "pharmacy",
                "pharmacy_fills",
                "count",
                f"{_words(drug).capitalize()} fills in the last {w} months",
                concept=drug,
                window=w,
            )
        add(
            f"pharmacy__{drug}__days_supply_12m",
            "pharmacy",
            "pharmacy_fills",
            "supply",
            f"Days of {_words(drug)} supplied in the last 12 months",
            concept=drug,
            window=12,
        )
        add(
            f"pharmacy__{drug}__days_since_last",
            "pharmacy",
            "pharmacy_fills",
            "recency",
            f"Days since the last {_words(drug)} fill",
            concept=drug,
        )

    # labs: ordered (how often) and value (what it showed) are separate features
    for test in V.LAB_TESTS:
        for w in windows:
            add(
                f"labs__{test}__ordered_{w}m",
                "labs",
                "lab_results",
                "count",
                f"{_words(test).capitalize()} ordered in the last {w} months",
                concept=test,
                window=w,
            )
        add(
            f"labs__{test}__last_value",
            "labs",
            "lab_results",
            "last_value",
            f"Last {_words(test)} result",
            concept=test,
        )
        add(
            f"labs__{test}__last_abnormal",
            "labs",
            "lab_results",
            "last_abnormal",
            f"Last {_words(test)} result abnormal",
            concept=test,
        )
        add(
            f"labs__{test}__max_12m",
            "labs",
            "lab_results",
            "max_value",
            f"Highest {_words(test)} in the last 12 months",
            concept=test,
            window=12,
        )
        add(
            f"labs__{test}__days_since_last",
            "labs",
            "lab_results",
            "recency",
            f"Days since {_words(test)} was last ordered",
            concept=test,
        )

    # social-needs screening answers
    for domain in V.SDOH_DOMAINS:
        add(
            f"sdoh_screening__{domain}__last_yes",
            "sdoh_screening",
            "sdoh_screenings",
            "answer_yes",
            f"Screened positive for {_words(domain)}",
            concept=domain,
        )
        add(
            f"sdoh_screening__{domain}__last_declined",
            "sdoh_screening",
            "sdoh_screenings",
            "answer_declined",
            f"Declined the {_words(domain)} screening question",
            concept=domain,
        )
    add(
        "sdoh_screening__needs_reported",
        "sdoh_screening",
        "sdoh_screenings",
        "needs",
        "Social needs reported at the last screening",
    )
    add(
        "sdoh_screening__days_since_last",
        "sdoh_screening",
        "sdoh_screenings",
        "recency",
        "Days since the last social-needs screening",
    )

    # prior pregnancies (outcomes recorded before the as-of date) and the current one
    add("prior_pregnancy__episodes", "prior_pregnancy", "episodes", "prior_count", "Earlier pregnancies on record")
    for outcome in PRIOR_OUTCOMES:
        add(
            f"prior_pregnancy__{outcome}",
            "prior_pregnancy",
            "episodes",
            "prior_outcome",
            f"Earlier pregnancy with {_words(outcome)}",
            concept=outcome,
        )
    add(
        "prior_pregnancy__months_since_delivery",
        "prior_pregnancy",
        "episodes",
        "months_since_delivery",
        "Months since the last delivery",
    )
    add(
        "prior_pregnancy__short_interval",
        "prior_pregnancy",
        "episodes",
        "short_interval",
        "Less than 18 months since the last delivery",
    )
    add(
        "current_pregnancy__gestational_weeks",
        "current_pregnancy",
        "episodes",
        "gestational_weeks",
        "Weeks of pregnancy",
    )
    add(
        "current_pregnancy__prenatal_visits",
        "current_pregnancy",
        "episodes",
        "prenatal_visits",
        "Prenatal visits in this pregnancy",
    )
    add(
        "current_pregnancy__weeks_to_first_prenatal_visit",
        "current_pregnancy",
        "episodes",
        "first_visit_weeks",
        "Week of pregnancy at the first prenatal visit",
    )
    add(
        "current_pregnancy__no_prenatal_visit_yet", "current_pregnancy", "episodes", "no_visit", "No prenatal visit yet"
    )
    add(
        "current_pregnancy__enrolled_before_pregnancy",
        "current_pregnancy",
        "episodes",
        "enrolled_before",
        "Enrolled before this pregnancy",
    )
    return f


def descriptions(windows: list[int]) -> dict[str, str]:
    """Readable name of every feature and of every missing-value indicator."""
    out = {}
    for feature in catalogue(windows):
        out[feature.name] = feature.description
        out[f"{feature.name}__missing"] = f"{feature.description}: not recorded"
    return out
