"""What the synthetic cohort must reproduce: published Medicaid rates, effect sizes and
timing (docs/published_rates.md), with the tolerance each is checked to."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    target: float
    low: float
    high: float

    def ok(self, observed: float) -> bool:
        return self.low <= observed <= self.high


def tolerance(target: float) -> Rate:
    """2 percentage points, or 20% relative for rates under 2%."""
    margin = 0.2 * target if target < 0.02 else 0.02
    return Rate(target, target - margin, target + margin)


BASE_RATES: dict[str, Rate] = {
    "preterm_birth": tolerance(0.11),
    "low_birthweight": tolerance(0.10),
    "preterm_or_low_birthweight": Rate(0.135, 0.12, 0.15),
    "severe_maternal_morbidity": tolerance(0.0146),
    "hypertensive_disorder": tolerance(0.16),
    "chronic_hypertension": tolerance(0.023),
    "gestational_diabetes": tolerance(0.08),
    "pregestational_diabetes": tolerance(0.009),
    "twins": tolerance(0.03),
    "high_risk": Rate(0.30, 0.25, 0.35),
    "no_prior_enrollment": tolerance(1 / 3),
}


@dataclass(frozen=True)
class Effect:
    exposure: str  # a boolean column of the profile frame
    outcome: str
    measure: str  # "OR", "RR" or "rate" (the outcome's rate among the exposed)
    target: float
    key: bool = False  # checked in the tests to within 25%

    def ok(self, observed: float) -> bool:
        return abs(observed / self.target - 1) <= 0.25

    @property
    def band(self) -> tuple[float, float]:
        return 0.75 * self.target, 1.25 * self.target


EFFECTS: dict[str, Effect] = {
    "prior_preterm_birth->preterm_birth": Effect("prior_preterm_birth", "preterm_birth", "rate", 0.30, key=True),
    "chronic_hypertension->preeclampsia": Effect("chronic_hypertension", "preeclampsia", "RR", 5.1, key=True),
    "pregestational_diabetes->preeclampsia": Effect("pregestational_diabetes", "preeclampsia", "RR", 3.7, key=True),
    "obesity->preeclampsia": Effect("obesity", "preeclampsia", "RR", 2.8, key=True),
    "obesity->gestational_diabetes": Effect("obesity_vs_normal", "gestational_diabetes", "OR", 3.6, key=True),
    "smoking->preterm_birth": Effect("tobacco_use", "preterm_birth", "OR", 1.27, key=True),
    "smoking->low_birthweight": Effect("tobacco_use", "low_birthweight", "OR", 1.89, key=True),
    "twins->preeclampsia": Effect("twins", "preeclampsia", "RR", 2.9, key=True),
    "homelessness->low_birthweight": Effect("homeless", "low_birthweight", "OR", 1.43, key=True),
    "homelessness->preterm_birth": Effect("homeless", "preterm_birth", "OR", 1.24, key=True),
    "prior_preeclampsia->preeclampsia": Effect("prior_preeclampsia", "preeclampsia", "RR", 8.4),
    "first_pregnancy->preeclampsia": Effect("nulliparous", "preeclampsia", "RR", 2.9),
    "age_40_plus->preeclampsia": Effect("age_40_plus", "preeclampsia", "RR", 2.0),
    "overweight->gestational_diabetes": Effect("overweight_vs_normal", "gestational_diabetes", "OR", 2.1),
    "severe_obesity->gestational_diabetes": Effect("severe_obesity_vs_normal", "gestational_diabetes", "OR", 8.6),
    "depression->preterm_birth": Effect("depression", "preterm_birth", "RR", 1.39),
    "depression->low_birthweight": Effect("depression", "low_birthweight", "RR", 1.49),
    "inadequate_prenatal_care->preterm_birth": Effect("inadequate_prenatal_care", "preterm_birth", "RR", 2.0),
    "opioid_use_disorder->smm": Effect("opioid_use_disorder", "severe_maternal_morbidity", "OR", 1.5),
    "stimulant_use_disorder->smm": Effect("stimulant_use_disorder", "severe_maternal_morbidity", "OR", 1.9),
    "rural->smm": Effect("rural", "severe_maternal_morbidity", "RR", 1.09),
    "black_vs_white->preterm_birth": Effect("black_vs_white", "preterm_birth", "RR", 13.6 / 9.1),
    "black_vs_white->smm": Effect("black_vs_white", "severe_maternal_morbidity", "RR", 227 / 123),
}

ORACLE_AUROC = (0.72, 0.85)

# When care starts (NVSR 67(3); MACPAC) and how late claims arrive (The Tuva Project).
TIMING: dict[str, Rate] = {
    "prenatal care starts: first trimester": Rate(0.68, 0.64, 0.72),
    "prenatal care starts: second trimester": Rate(0.24, 0.20, 0.28),
    "prenatal care starts: third trimester": Rate(0.06, 0.04, 0.08),
    "prenatal care starts: none before delivery": Rate(0.02, 0.01, 0.04),
    # "well under half of a month's claims processed within that month; most within three months"
    "medical claims received within 15 days": Rate(0.30, 0.20, 0.45),
    "medical claims received within 90 days": Rate(0.95, 0.90, 0.99),
    "medical claims received within 365 days": Rate(0.995, 0.99, 1.0),
    "pharmacy claims received the same day": Rate(0.90, 0.85, 0.95),
    "lab results received within 7 days": Rate(1.0, 0.95, 1.0),
    # Of identified pregnancies (ACOG Practice Bulletin 200; claims-based episode studies):
    # about a sixth end without a delivery
    "pregnancies ending in a loss": Rate(0.17, 0.15, 0.20),
    "spontaneous losses": Rate(0.11, 0.09, 0.13),
    "induced losses": Rate(0.05, 0.03, 0.07),
    "ectopic pregnancies": Rate(0.01, 0.005, 0.02),
    # The episode algorithm's LMP from Z3A codes against the true one (first-trimester
    # ultrasound dating: within about a week)
    "estimated LMP within 7 days of the true LMP": Rate(0.90, 0.85, 0.97),
}


# ---------------------------------------------------------------- verdicts that know the sample size

Z_99 = 2.576  # two-sided 99%: a cohort is called off only when sampling cannot explain it
OK, UNCERTAIN, OFF = "ok", "uncertain", "off"


def proportion_interval(share: float, n: int) -> tuple[float, float] | None:
    """Wilson interval of a share observed on n rows (None without rows)."""
    if n <= 0:
        return None
    z2 = Z_99**2
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_99 * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def effect_interval(measure: str, n1: int, y1: int, n0: int, y0: int) -> tuple[float, float] | None:
    """Interval of an effect from its 2x2 counts: Wilson for a rate, log scale for RR and OR
    (None when a cell is empty and the effect has no finite interval)."""
    if measure == "rate":
        return proportion_interval(y1 / n1, n1) if n1 else None
    if measure == "RR":
        if not (y1 and y0 and n1 and n0):
            return None
        log_effect = math.log((y1 / n1) / (y0 / n0))
        se = math.sqrt(1 / y1 - 1 / n1 + 1 / y0 - 1 / n0)
    else:
        cells = (y1, n1 - y1, y0, n0 - y0)
        if not all(cells):
            return None
        log_effect = math.log((y1 * (n0 - y0)) / ((n1 - y1) * y0))
        se = math.sqrt(sum(1 / c for c in cells))
    return math.exp(log_effect - Z_99 * se), math.exp(log_effect + Z_99 * se)


def verdict(observed: float | None, interval: tuple[float, float] | None, low: float, high: float) -> str:
    """`ok` inside the tolerance; `off` when even the 99% interval misses it; else `uncertain`:
    too few rows to tell (a 1,000-member cohort has a handful of exposed members per effect)."""
    if observed is not None and low <= observed <= high:
        return OK
    if interval is None or (interval[0] <= high and interval[1] >= low):
        return UNCERTAIN
    return OFF
