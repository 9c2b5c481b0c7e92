"""Gestational age as claims carry it, and the episode algorithm's LMP estimate.

Claims do not carry the last menstrual period. They carry Z3A codes, "weeks of gestation
of pregnancy" in completed weeks (Z3A.08 ... Z3A.42; Z3A.01 under 8 weeks), on prenatal
visits and on the claim that ends the pregnancy. The data platform's episode algorithm
estimates an episode's LMP from the code on its identifying claim: the service date minus
the coded weeks, minus half a week (a code of 10 weeks means 10 weeks and 0 to 6 days).
Every landmark, the expected delivery date and "today's gestational week" on the outreach
list follow from that estimate, never from a true LMP no plan has.
"""

from __future__ import annotations

import numpy as np

Z3A = "Z3A"
UNDER_8_WEEKS = 1  # Z3A.01: less than 8 weeks
MIN_CODED_WEEK, MAX_CODED_WEEK = 8, 42
HALF_WEEK_DAYS = 3
TERM_DAYS = 280  # expected delivery: estimated LMP + 40 weeks


def code_of(weeks: np.ndarray) -> np.ndarray:
    """Z3A codes (without the dot) for completed weeks: Z3A01 under 8, Z3A08..Z3A42."""
    weeks = np.asarray(weeks, dtype=np.int64)
    coded = np.where(weeks < MIN_CODED_WEEK, UNDER_8_WEEKS, np.minimum(weeks, MAX_CODED_WEEK))
    return np.char.add(Z3A, np.char.zfill(coded.astype(str), 2))


def weeks_of(code: np.ndarray) -> np.ndarray:
    """Completed weeks a Z3A code states (Z3A01, under 8 weeks, counts as 6)."""
    weeks = np.array([int(c[3:5]) for c in np.asarray(code, dtype=str)], dtype=np.int64)
    return np.where(weeks == UNDER_8_WEEKS, 6, weeks)


def estimated_lmp(service_day: np.ndarray, coded_weeks: np.ndarray) -> np.ndarray:
    """The episode algorithm: LMP = service date - 7 x coded weeks - half a week."""
    return np.asarray(service_day, dtype=np.int64) - 7 * np.asarray(coded_weeks, dtype=np.int64) - HALF_WEEK_DAYS
