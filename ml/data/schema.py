"""The source tables a Medicaid plan's data platform provides, defined once.

The synthetic generator writes exactly these columns, the feature job validates its
input against them, and docs/data_dictionary.md is generated from them. Types are
Spark SQL type names so this module imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Spark SQL type: bigint, int, double, string, date, boolean
    meaning: str
    missing: str = ""  # when and why the value is null; empty: never null

    @property
    def nullable(self) -> bool:
        return bool(self.missing)


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def spark_schema(self):
        from pyspark.sql.types import StructField, StructType, _parse_datatype_string

        return StructType([StructField(c.name, _parse_datatype_string(c.type), c.nullable) for c in self.columns])


MEMBER_ID = Column("member_id", "bigint", "Plan member identifier (synthetic).")
EPISODE_ID = Column("episode_id", "bigint", "Pregnancy episode identifier: member_id * 10 + episode number.")

MEMBERS = Table(
    "members",
    "One row per member who had at least one pregnancy in the period.",
    ("member_id",),
    (
        MEMBER_ID,
        Column("birth_date", "date", "Date of birth."),
        Column(
            "race_ethnicity",
            "string",
            "Self-reported: white, black, hispanic, asian_pacific_islander, american_indian_alaska_native, other.",
        ),
        Column("primary_language", "string", "english, spanish or other."),
        Column("rurality", "string", "urban or rural (RUCA of the residence ZIP code)."),
        Column(
            "area_deprivation_index",
            "int",
            "National ADI percentile (1-100) of the residence block group.",
            "no geocodable address: about 3%, more among members who were homeless",
        ),
        Column(
            "social_vulnerability_index",
            "double",
            "CDC SVI (0-1) of the residence tract.",
            "as area_deprivation_index",
        ),
    ),
)

ENROLLMENT = Table(
    "enrollment",
    "Medicaid eligibility spans; claims are only observed while enrolled.",
    ("member_id", "span_start"),
    (
        MEMBER_ID,
        Column("span_start", "date", "First day of coverage."),
        Column("span_end", "date", "Last day of coverage (may lie after the data cut-off)."),
        Column("eligibility_category", "string", "pregnancy, adult_expansion, family or disability."),
    ),
)

EPISODES = Table(
    "episodes",
    "One row per pregnancy episode whose LMP lies in the generated period.",
    ("episode_id",),
    (
        EPISODE_ID,
        MEMBER_ID,
        Column(
            "lmp_date",
            "date",
            "Last menstrual period (gestational day 0) as the episode algorithm estimates it from the weeks of "
            "gestation (Z3A) coded on the identifying claim (ml/data/gestation.py): days, sometimes a week or "
            "two, from the true one.",
        ),
        Column(
            "identified_date",
            "date",
            "When the plan received the episode's first pregnancy-related claim (mostly the first prenatal "
            "visit): from the next day on it knows of the pregnancy. Episodes not yet identified are absent.",
        ),
        Column("expected_delivery_date", "date", "Estimated LMP + 280 days."),
        Column(
            "delivery_date",
            "date",
            "Date of delivery (live or stillbirth).",
            "the delivery's claim not received by the data cut-off (open episode, as far as the plan knows), "
            "or the pregnancy ended in a loss",
        ),
        Column(
            "delivery_recorded_date",
            "date",
            "When the plan received the delivery's claim: until then it sees the pregnancy as open.",
            "as delivery_date",
        ),
        Column("gestational_age_weeks", "int", "Completed weeks at delivery.", "as delivery_date"),
        Column(
            "plurality",
            "int",
            "Number of fetuses delivered (1 or 2). Known at delivery: not a feature.",
            "as delivery_date",
        ),
        Column(
            "loss_type",
            "string",
            "How a pregnancy that ended without a delivery ended: spontaneous_loss (O03), induced_loss (Z33.2, "
            "O04) or ectopic (O00).",
            "delivered, open, or the loss's claim not received by the data cut-off",
        ),
        Column("loss_date", "date", "Date the pregnancy ended in a loss.", "as loss_type"),
        Column(
            "loss_recorded_date",
            "date",
            "When the plan received the loss's claim: from then on the pregnancy is closed.",
            "as loss_type",
        ),
    ),
)

OUTCOME_FLAG = "From the LMP to 42 days postpartum, as coded in claims (a few percent miscoded)."

OUTCOMES = Table(
    "outcomes",
    "Outcome of each episode whose window (delivery + 42 days) closed and was recorded by the cut-off.",
    ("episode_id",),
    (
        EPISODE_ID,
        MEMBER_ID,
        Column("delivery_date", "date", "Date of delivery."),
        Column("recorded_date", "date", "When the outcome was complete in claims (window end plus claims lag)."),
        Column("birthweight_grams", "int", "Birthweight of the (first) infant."),
        Column("preterm_birth", "boolean", "Delivery before 37 completed weeks. " + OUTCOME_FLAG),
        Column("low_birthweight", "boolean", "Birthweight under 2,500 g. " + OUTCOME_FLAG),
        Column(
            "severe_maternal_morbidity",
            "boolean",
            "CDC SMM indicator, excluding transfusion only. " + OUTCOME_FLAG,
        ),
        Column(
            "hypertensive_disorder",
            "boolean",
            "Chronic or gestational hypertension, preeclampsia or eclampsia: any of the four columns "
            "after it. " + OUTCOME_FLAG,
        ),
        Column(
            "chronic_hypertension", "boolean", "Hypertension predating the pregnancy or before week 20. " + OUTCOME_FLAG
        ),
        Column(
            "gestational_hypertension",
            "boolean",
            "New hypertension after week 20 without proteinuria, in a member without chronic hypertension. "
            + OUTCOME_FLAG,
        ),
        Column("preeclampsia", "boolean", "Preeclampsia or eclampsia, superimposed or not. " + OUTCOME_FLAG),
        Column(
            "superimposed_preeclampsia",
            "boolean",
            "Preeclampsia in a member with chronic hypertension: a new onset even where the hypertension was "
            "known. " + OUTCOME_FLAG,
        ),
        Column("gestational_diabetes", "boolean", "Diabetes first arising in pregnancy. " + OUTCOME_FLAG),
        Column("stillbirth", "boolean", "Fetal death at 20 weeks or later. " + OUTCOME_FLAG),
        Column("nicu_admission", "boolean", "Infant admitted to a neonatal intensive care unit. " + OUTCOME_FLAG),
        Column(
            "high_risk",
            "boolean",
            "Composite label: preterm, low birthweight, SMM, hypertensive disorder, stillbirth or NICU.",
        ),
    ),
)

ENCOUNTERS = Table(
    "encounters",
    "Claims-derived visits and stays.",
    ("encounter_id",),
    (
        Column("encounter_id", "bigint", "Encounter identifier."),
        MEMBER_ID,
        Column("encounter_date", "date", "Date of service (admission date for stays)."),
        Column(
            "received_date",
            "date",
            "When the plan received the claim (professional and facility claims: weeks after the service, "
            "most within three months; a stay's after the discharge).",
        ),
        Column(
            "encounter_type",
            "string",
            "primary_care, emergency, inpatient, behavioral_health, prenatal or mfm_specialist.",
        ),
        Column("length_of_stay_days", "int", "Days in hospital.", "not an inpatient stay"),
    ),
)

DIAGNOSES = Table(
    "diagnoses",
    "Diagnosis codes from claim lines, including social-determinant Z-codes.",
    ("claim_line_id",),
    (
        Column("claim_line_id", "bigint", "Claim line identifier."),
        MEMBER_ID,
        Column("service_date", "date", "Date of service."),
        Column("received_date", "date", "When the plan received the claim line (as encounters)."),
        Column("icd10_code", "string", "ICD-10-CM code without the dot (O0921 for O09.21)."),
    ),
)

PHARMACY_FILLS = Table(
    "pharmacy_fills",
    "Outpatient pharmacy claims, grouped by therapeutic class.",
    ("fill_id",),
    (
        Column("fill_id", "bigint", "Pharmacy claim identifier."),
        MEMBER_ID,
        Column("fill_date", "date", "Date dispensed."),
        Column(
            "received_date",
            "date",
            "When the plan received the pharmacy claim (adjudicated at the point of sale: the same day, "
            "now and then the next).",
        ),
        Column("drug_class", "string", "Therapeutic class (see ml/data/value_sets.py: DRUG_CLASSES)."),
        Column("days_supply", "int", "Days supplied."),
    ),
)

LAB_RESULTS = Table(
    "lab_results",
    "Laboratory orders and results, with vital signs from supplemental clinical data.",
    ("lab_id",),
    (
        Column("lab_id", "bigint", "Lab order identifier."),
        MEMBER_ID,
        Column("order_date", "date", "Date ordered."),
        Column("received_date", "date", "When the result reached the plan (lab feeds: within days)."),
        Column("test_code", "string", "Test (see ml/data/value_sets.py: LAB_TESTS)."),
        Column(
            "result_value",
            "double",
            "Result in result_unit; 0/1 for screens.",
            "ordered but no result returned: about 10%, more for members less engaged in care",
        ),
        Column("result_unit", "string", "Unit of result_value."),
    ),
)

SDOH_SCREENINGS = Table(
    "sdoh_screenings",
    "Social-needs screening answers (AHC HRSN), one row per screening and domain.",
    ("screening_id", "domain"),
    (
        Column("screening_id", "bigint", "Screening identifier."),
        MEMBER_ID,
        Column("screening_date", "date", "Date of the screening."),
        Column("received_date", "date", "When the screening reached the plan (assessment feeds: within two weeks)."),
        Column("domain", "string", "Need screened (see ml/data/value_sets.py: SDOH_DOMAINS)."),
        Column("answer", "string", "yes (need present), no, or declined."),
    ),
)

TRUTH = "Generator truth at the start of the pregnancy."

ORACLE = Table(
    "oracle_episode_risk",
    "Generator-only truth: each episode's probability of the composite label and its true "
    "exposures. No feature may read it; it exists to compare models with the best possible one "
    "and to check the generator against published rates.",
    ("episode_id",),
    (
        EPISODE_ID,
        MEMBER_ID,
        Column(
            "true_risk",
            "double",
            "Probability of a true high-risk outcome given everything the generator knew.",
        ),
        Column("label_probability", "double", "Probability that high_risk is recorded as true (after miscoding)."),
        Column("chronic_hypertension", "boolean", TRUTH),
        Column("pregestational_diabetes", "boolean", TRUTH),
        Column("bmi", "double", TRUTH + " Pre-pregnancy BMI."),
        Column("tobacco_use", "boolean", TRUTH),
        Column("depression", "boolean", TRUTH),
        Column("opioid_use_disorder", "boolean", TRUTH),
        Column("stimulant_use_disorder", "boolean", TRUTH),
        Column("homeless", "boolean", TRUTH + " Homeless during this pregnancy."),
        Column("inadequate_prenatal_care", "boolean", TRUTH),
        Column(
            "prenatal_care_start_week",
            "double",
            "Generator truth: gestational week of the first prenatal visit.",
            "no prenatal visit before the delivery",
        ),
        Column("twins", "boolean", TRUTH),
        Column("nulliparous", "boolean", TRUTH),
        Column("prior_preterm_birth", "boolean", TRUTH),
        Column("prior_preeclampsia", "boolean", TRUTH),
        Column("age_years", "double", TRUTH + " Age at the LMP."),
        Column("race_ethnicity", "string", TRUTH),
        Column("rural", "boolean", TRUTH),
        Column("prior_enrollment", "boolean", TRUTH + " Enrolled at some point before the LMP."),
        Column("preeclampsia", "boolean", "Generator truth: preeclampsia happened (before miscoding)."),
        Column("gestational_diabetes", "boolean", "Generator truth: gestational diabetes happened."),
        Column("true_lmp_date", "date", "Generator truth: the LMP the episodes table's estimate stands for."),
        Column(
            "pregnancy_end_date",
            "date",
            "Generator truth: the day the pregnancy ended (delivery or loss), whether or not the plan knew by "
            "the cut-off, or the day it will end.",
        ),
        Column("pregnancy_end", "string", "Generator truth: delivery, spontaneous_loss, induced_loss or ectopic."),
    ),
)

# What the data platform provides: the feature job may read these and nothing else.
SOURCE_TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        MEMBERS,
        ENROLLMENT,
        EPISODES,
        OUTCOMES,
        ENCOUNTERS,
        DIAGNOSES,
        PHARMACY_FILLS,
        LAB_RESULTS,
        SDOH_SCREENINGS,
    )
}
# Diagnosis lines of services on or before the cut-off that had not reached the plan by then.
DIAGNOSES_IN_TRANSIT = Table(
    "oracle_diagnoses_in_transit",
    "Generator-only truth: diagnosis lines served on or before the data cut-off but received after "
    "it (incurred, not yet reported). No feature may read it; it measures what the plan could not "
    "have known, such as the share of an outreach list already coded with what the model anticipates.",
    DIAGNOSES.key,
    DIAGNOSES.columns,
)
GENERATOR_ONLY: tuple[Table, ...] = (ORACLE, DIAGNOSES_IN_TRANSIT)
GENERATED_TABLES: dict[str, Table] = {**SOURCE_TABLES, **{t.name: t for t in GENERATOR_ONLY}}
