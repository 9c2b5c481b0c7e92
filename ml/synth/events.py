"""Claims-like events of each episode: encounters, diagnoses, pharmacy fills, labs and
social-needs screenings, each dated so features can look back from any date.

An episode's timeline is cut into phases: before the pregnancy (while enrolled),
early pregnancy (LMP to week 12), late pregnancy (week 12 to delivery), the delivery,
the postpartum quarter and the rest of postpartum coverage. Events happen only while
enrolled and up to the data cut-off. What is recorded at intake (conditions, obstetric
history, BMI, first labs, a social-needs screening) happens at the first prenatal visit,
whenever care starts; complications are coded from their onset (gestational diabetes at
the weeks 24-28 glucose challenge, hypertension after week 20). How much of a member is
observed depends on her engagement with care and on her risk (a clinician orders an
HbA1c for a member with obesity), so missingness is not at random.

Every row carries the day the plan received it (a claims lag by source:
params.MEDICAL_LAG and the rest). The builders return rows received after the data
cut-off too; the generator keeps them out of the source tables, as the plan would not have
them (diagnoses in transit go to a generator-only table). The first prenatal visit's claim is the
episode's identifying claim: it arrives on the episode's identification day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from ml.data import value_sets as V
from ml.data.gestation import code_of
from ml.synth import params as P
from ml.synth.params import CONDITIONS as GENERATED_CONDITIONS
from ml.synth.people import Arrays, day_number
from ml.synth.pregnancy import coded_weeks, medical_lag
from ml.synth.rng import Streams, sigmoid

PRE_WINDOW_DAYS = 760  # events older than ~25 months before the LMP feed no feature
EARLY_POSTPARTUM_DAYS = 90


@dataclass(frozen=True)
class Phase:
    start: np.ndarray  # first day (inclusive)
    end: np.ndarray  # last day (inclusive); end < start: empty

    @property
    def days(self) -> np.ndarray:
        return np.maximum(self.end - self.start + 1, 0)


def phases(ep: Arrays, end_day: int) -> dict[str, Phase]:
    lmp, week12_day, delivery = ep["lmp_day"], ep["week12_day"], ep["pregnancy_end_day"]  # a delivery or a loss
    cap = end_day
    pregnancy_start = np.maximum(lmp, ep["pregnancy_span_start_day"])
    pre_start = np.where(ep["has_pre_span"], np.maximum(ep["pre_start_day"], lmp - PRE_WINDOW_DAYS), lmp)
    coverage_end = np.minimum(ep["postpartum_end_day"], ep["next_lmp_day"] - 1)
    return {
        "pre": Phase(pre_start, np.minimum(lmp - 1, cap)),
        "early": Phase(pregnancy_start, np.minimum(week12_day - 1, cap)),
        "late": Phase(np.maximum(week12_day, pregnancy_start), np.minimum(delivery - 1, cap)),
        "delivery": Phase(delivery, np.minimum(delivery, cap)),
        "postpartum": Phase(delivery + 1, np.minimum(np.minimum(delivery + EARLY_POSTPARTUM_DAYS, coverage_end), cap)),
        "interpregnancy": Phase(delivery + EARLY_POSTPARTUM_DAYS + 1, np.minimum(coverage_end, cap)),
    }


@dataclass
class Emitted:
    """Events as parallel arrays: the episode row each belongs to, its day and sequence."""

    row: np.ndarray
    day: np.ndarray
    seq: np.ndarray

    def take(self, keep: np.ndarray) -> Emitted:
        return Emitted(self.row[keep], self.day[keep], self.seq[keep])


def _sequence(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each row's block of np.repeat(rows, counts)."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(counts.sum()) - starts


class Timeline:
    """Draws dated events for one batch of episodes."""

    def __init__(self, ep: Arrays, rng: Streams, end_day: int):
        self.ep = ep
        self.rng = rng
        self.end_day = end_day
        self.phases = phases(ep, end_day)
        self.id = ep["episode_id"]
        self.n = len(self.id)
        gap = ep["churn_gap"]
        self._gap = (np.where(gap, ep["gap_start_day"], 0), np.where(gap, ep["gap_end_day"], -1))

    def _enrolled(self, rows: np.ndarray, days: np.ndarray) -> np.ndarray:
        start, end = self._gap
        return ~((days >= start[rows]) & (days <= end[rows]))

    def rate(self, stream: str, phase: str, per_day: np.ndarray | float) -> Emitted:
        """Events at a rate per enrolled day, placed uniformly over the phase."""
        window = self.phases[phase]
        mean = np.broadcast_to(np.asarray(per_day, dtype=np.float64), (self.n,)) * window.days
        counts = self.rng.geometric(mean, f"{stream}/{phase}/count", self.id)
        return self._place(stream, phase, counts, window)

    def once(self, stream: str, phase: str, probability: np.ndarray | float) -> Emitted:
        """At most one event in the phase, with the given probability."""
        window = self.phases[phase]
        p = np.broadcast_to(np.asarray(probability, dtype=np.float64), (self.n,))
        counts = ((self.rng.uniform(f"{stream}/{phase}/once", self.id) < p) & (window.days > 0)).astype(np.int64)
        return self._place(stream, phase, counts, window)

    def at_first_visit(self, stream: str, probability: np.ndarray | float, within_days: int = 7) -> Emitted:
        """At most one event within `within_days` of the first prenatal visit (intake), with
        the given probability: none when care had not started before the delivery."""
        first = self.ep["first_visit_day"]
        p = np.broadcast_to(np.asarray(probability, dtype=np.float64), (self.n,))
        happens = (self.rng.uniform(f"{stream}/intake/once", self.id) < p) & (first >= 0)
        rows = np.flatnonzero(happens)
        offset = np.floor(self.rng.uniform(f"{stream}/intake/day", self.id[rows]) * within_days).astype(np.int64)
        days = np.minimum(first[rows] + offset, self.ep["pregnancy_end_day"][rows] - 1)
        emitted = Emitted(rows, days, np.zeros(len(rows), dtype=np.int64))
        keep = (days <= self.end_day) & (days >= self.ep["pregnancy_span_start_day"][rows])
        return emitted.take(keep & self._enrolled(rows, days))

    def once_in(self, stream: str, first_day: np.ndarray, last_day: np.ndarray, probability) -> Emitted:
        """At most one event between two days of the pregnancy (clipped to it), with the given probability."""
        window = Phase(
            np.maximum(first_day, np.maximum(self.ep["lmp_day"], self.ep["pregnancy_span_start_day"])),
            np.minimum(np.minimum(last_day, self.ep["pregnancy_end_day"] - 1), self.end_day),
        )
        p = np.broadcast_to(np.asarray(probability, dtype=np.float64), (self.n,))
        counts = ((self.rng.uniform(f"{stream}/window/once", self.id) < p) & (window.days > 0)).astype(np.int64)
        return self._place(stream, "window", counts, window)

    def rate_from(self, stream: str, start: np.ndarray, per_day: np.ndarray | float) -> Emitted:
        """Events at a rate per day from `start` (an onset) to the delivery."""
        window = Phase(
            np.maximum(start, np.maximum(self.ep["lmp_day"], self.ep["pregnancy_span_start_day"])),
            np.minimum(self.ep["pregnancy_end_day"] - 1, self.end_day),
        )
        mean = np.broadcast_to(np.asarray(per_day, dtype=np.float64), (self.n,)) * window.days
        counts = self.rng.geometric(mean, f"{stream}/onset/count", self.id)
        return self._place(stream, "onset", counts, window)

    def _place(self, stream: str, phase: str, counts: np.ndarray, window: Phase) -> Emitted:
        rows = np.repeat(np.arange(self.n), counts)
        seq = _sequence(counts)
        u = self.rng.uniform(f"{stream}/{phase}/day", self.id[rows], seq)
        days = window.start[rows] + np.floor(u * window.days[rows]).astype(np.int64)
        emitted = Emitted(rows, days, seq)
        return emitted.take(self._enrolled(rows, days))


def _f(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _context(ep: Arrays) -> Arrays:
    """Risk summaries the event rates use."""
    cond = {name: _f(ep[name]) for name in GENERATED_CONDITIONS}
    substance = _f(ep["opioid_use_disorder"] | ep["stimulant_use_disorder"] | ep["alcohol_use_disorder"])
    mental = _f(ep["depression"] | ep["anxiety"] | ep["serious_mental_illness"]) + substance
    chronic = sum(cond.values())
    high_risk = _f(
        ep["hypertension"]
        | ep["diabetes"]
        | ep["twins"]
        | ep["prior_preterm"]
        | ep["prior_preeclampsia"]
        | ep["opioid_use_disorder"]
        | (ep["age"] >= 35)
        | ep["chronic_kidney_disease"]
        | ep["lupus"]
        | ep["sickle_cell_disease"]
    )
    return {
        **cond,
        "substance": substance,
        "mental": np.minimum(mental, 1.0),
        "chronic": chronic,
        "high_risk": high_risk,
        "obese": _f(ep["bmi_k"] >= 30),
        "engaged": np.exp(0.4 * ep["engagement"]),
        "late_preeclampsia": _f(ep["preeclampsia_true"]),
    }


# ---------------------------------------------------------------- encounters


def prenatal_visits(t: Timeline) -> Emitted:
    """From the first visit (pregnancy.prenatal_start_day; none: no visits), a schedule."""
    ep = t.ep
    inadequate = ep["inadequate_care"]
    first = ep["first_visit_day"]
    interval = np.where(inadequate, 42, 24) - np.where(_context(ep)["high_risk"] > 0, 6, 0)
    visits = np.where(first >= 0, np.maximum((ep["pregnancy_end_day"] - first) // interval, 0) + 1, 0)
    rows = np.repeat(np.arange(t.n), visits)
    seq = _sequence(visits)
    jitter = np.floor(t.rng.uniform("prenatal/jitter", t.id[rows], seq) * 7).astype(np.int64)
    days = first[rows] + seq * interval[rows] + np.where(seq > 0, jitter, 0)  # the first visit is the episode's
    enrolled_from = np.maximum(ep["pregnancy_span_start_day"], ep["lmp_day"])[rows]
    keep = (days >= enrolled_from) & (days < ep["pregnancy_end_day"][rows]) & (days <= t.end_day)
    return Emitted(rows, days, seq).take(keep)


def encounters(t: Timeline) -> dict[str, list[Emitted]]:
    ep, c = t.ep, _context(t.ep)
    d, b, card = ep["deprivation"], ep["behavioral"], ep["cardio"]
    primary = 0.006 * c["engaged"] * np.exp(0.15 * card + 0.25 * c["chronic"])
    emergency = 0.0022 * np.exp(0.45 * d + 0.35 * b + 0.15 * card + 0.4 * c["asthma"] + 0.5 * c["substance"])
    inpatient = 0.00015 * np.exp(0.5 * card + 0.5 * b + 0.8 * c["substance"] + 0.6 * c["serious_mental_illness"])
    behavioral = 0.0008 * np.exp(1.0 * b) * (1 + 3 * c["mental"])
    out: dict[str, list[Emitted]] = {
        "primary_care": [
            t.rate("primary_care", "pre", primary),
            t.rate("primary_care", "early", primary / 3),
            t.rate("primary_care", "late", primary / 3),
            t.rate("primary_care", "postpartum", primary),
            t.rate("primary_care", "interpregnancy", primary),
        ],
        "emergency": [
            t.rate("emergency", "pre", emergency),
            t.rate("emergency", "early", 1.8 * emergency),
            t.rate("emergency", "late", 1.5 * emergency),
            t.rate("emergency", "postpartum", 1.3 * emergency),
            t.rate("emergency", "interpregnancy", emergency),
        ],
        "inpatient": [
            t.rate("inpatient", "pre", inpatient),
            t.rate("inpatient", "interpregnancy", inpatient),
            t.rate("inpatient", "late", inpatient + 0.0008 * _f(ep["preterm_true"])),
            t.rate_from("inpatient/preeclampsia", ep["preeclampsia_onset_day"], 0.02 * c["late_preeclampsia"]),
            t.once("inpatient", "delivery", 1.0 - _f(ep["lost"])),
            t.once("inpatient/loss", "delivery", 0.15 * _f(ep["lost"])),  # most losses are outpatient
        ],
        "behavioral_health": [
            t.rate("behavioral_health", p, behavioral * s)
            for p, s in (
                ("pre", 1.0),
                ("early", 0.7),
                ("late", 0.7),
                ("postpartum", 1.4),
                ("interpregnancy", 1.0),
            )
        ],
        "prenatal": [prenatal_visits(t)],
        "mfm_specialist": [
            t.at_first_visit("mfm", 0.55 * c["high_risk"] * sigmoid(ep["engagement"] + 1.0), within_days=35),
            t.rate("mfm", "late", 0.012 * c["high_risk"]),
            t.rate_from("mfm/gdm", ep["gdm_diagnosed_day"], 0.012 * _f(ep["gdm_true"])),
            t.rate_from("mfm/preeclampsia", ep["preeclampsia_onset_day"], 0.02 * c["late_preeclampsia"]),
        ],
    }
    return out


def encounters_table(t: Timeline) -> pd.DataFrame:
    frames = []
    ep = t.ep
    for kind, parts in encounters(t).items():
        for part, e in enumerate(parts):  # a stream per part: parts may overlap in time
            stay = None
            if kind == "inpatient":
                complicated = ep["smm_true"][e.row] | ep["preeclampsia_true"][e.row] | ep["twins"][e.row]
                stay = (
                    2
                    + t.rng.geometric(np.full(len(e.row), 1.0), "inpatient/los", t.id[e.row], e.day)
                    + 2 * complicated
                    + 4 * ep["smm_true"][e.row]
                )
            frames.append(
                _rows(
                    t,
                    e,
                    f"encounter/{kind}/{part}",
                    _identifying(t, e) if kind == "prenatal" else None,
                    encounter_type=kind,
                    length_of_stay_days=stay,
                )
            )
    return _concat(t, frames, "encounter_id", "encounter_date", "medical")


# ---------------------------------------------------------------- diagnoses

_ACUTE = {  # chapter codes an encounter of each kind records most often
    "primary_care": {
        "J069": 3,
        "N390": 2,
        "Z0000": 3,
        "M545": 2,
        "L309": 1,
        "K219": 1,
        "R51": 1,
        "H6690": 1,
        "B373": 1,
    },
    "emergency": {
        "R1010": 3,
        "S934": 2,
        "J069": 2,
        "N390": 2,
        "R079": 1,
        "T148": 1,
        "A099": 1,
        "M545": 1,
        "R51": 1,
    },
    "inpatient": {"J189": 2, "N10": 2, "A419": 1, "K3580": 1, "F332": 1, "E871": 1},
    "behavioral_health": {"F419": 2, "F329": 2, "Z6372": 1},
    "prenatal": {"Z3400": 6, "Z3480": 2, "O2690": 1},
    "mfm_specialist": {"O0990": 3, "O3680": 1},
}

_DELIVERY = {"O80": 5, "O6981": 1, "O7020": 1}
_SMM_CODES = {"O723": 2, "R579": 1, "N179": 2, "O159": 1, "J80": 1, "O882": 1, "D65": 1, "I469": 1}


def _full_code(prefix: str) -> str:
    """A realistic full code for a value-set prefix (E11 -> E119)."""
    return prefix + "9" if len(prefix) == 3 else prefix


def _condition_code(t: Timeline, e: Emitted, condition: str, pregnant: bool, stream: str) -> np.ndarray:
    """A code of the condition: its pregnancy (O) variant during pregnancy where one exists."""
    prefixes = [c for c in V.CONDITIONS[condition] if c.startswith("O") == pregnant] or list(V.CONDITIONS[condition])
    codes = np.array([_full_code(c) for c in prefixes])
    pick = t.rng.uniform(stream, t.id[e.row], e.day, e.seq)
    return codes[np.minimum((pick * len(codes)).astype(int), len(codes) - 1)]


def diagnoses_table(t: Timeline) -> pd.DataFrame:
    ep, c = t.ep, _context(t.ep)
    frames: list[pd.DataFrame] = []

    def add(e: Emitted, stream: str, codes: np.ndarray | str) -> None:
        frames.append(_rows(t, e, f"dx/{stream}", icd10_code=codes))

    for kind, parts in encounters(t).items():
        for part, e in enumerate(parts):
            if kind == "inpatient":  # the delivery or loss stay is coded below
                e = e.take(e.day != ep["pregnancy_end_day"][e.row])
            codes = t.rng.choice(_ACUTE[kind], f"dx/{kind}/code", t.id[e.row], e.day, e.seq)
            if kind == "prenatal":
                codes = np.where(e.seq == 0, "Z3400", codes)  # the first visit's supervision-of-pregnancy code
                frames.append(_rows(t, e, f"dx/encounter/{kind}/{part}", _identifying(t, e), icd10_code=codes))
                # every prenatal claim carries the weeks of gestation (Z3A), by the clinician's dating
                frames.append(_rows(t, e, f"dx/z3a/{part}", _identifying(t, e), icd10_code=_z3a(t, e)))
            else:
                add(e, f"encounter/{kind}/{part}", codes)

    pregnant_phases = ("early", "late")
    coding = c["engaged"]
    for condition in GENERATED_CONDITIONS:
        has = c[condition]
        for phase, per_day in (
            ("pre", 0.004),
            ("interpregnancy", 0.004),
            ("postpartum", 0.003),
            ("late", 0.004),
        ):
            e = t.rate(f"cond/{condition}", phase, per_day * has * coding)
            add(
                e,
                f"cond/{condition}/{phase}",
                _condition_code(t, e, condition, phase in pregnant_phases, f"cond/{condition}/{phase}/code"),
            )
        # recorded at the first prenatal visits, before the index date for most members
        e = t.at_first_visit(f"intake/{condition}", 0.75 * has * sigmoid(ep["engagement"] + 1.5))
        add(e, f"intake/{condition}", _condition_code(t, e, condition, True, f"intake/{condition}/code"))
        # rule-out and miscoded diagnoses of conditions a member does not have
        e = t.rate(f"ruleout/{condition}", "pre", 0.00002 * (1 - has))
        add(e, f"ruleout/{condition}", _condition_code(t, e, condition, False, f"ruleout/{condition}/code"))

    # obesity is recorded from BMI (the generator's conditions do not include it)
    obese = c["obese"]
    e = t.rate("cond/obesity_bmi", "pre", 0.002 * obese * coding)
    add(e, "cond/obesity_bmi", np.where(ep["bmi_k"][e.row] >= 40, "Z6841", "Z6830"))
    e = t.at_first_visit("intake/obesity", 0.45 * obese * sigmoid(ep["engagement"] + 1))
    add(e, "intake/obesity", "O99210")

    history = {
        "O0921": ep["prior_preterm"] * 0.75,
        "Z8759": ep["prior_preeclampsia"] * 0.6,
        "O0929": ep["prior_stillbirth"] * 0.6,
        "O0951": ((ep["age"] >= 35) & (ep["parity"] == 0)) * 0.8,
        "O0952": ((ep["age"] >= 35) & (ep["parity"] > 0)) * 0.8,
        "O0961": ((ep["age"] < 18) & (ep["parity"] == 0)) * 0.7,
        "O30009": ep["twins"] * 0.8,
        "O0989": ((ep["prior_delivery_day"] >= 0) & (ep["lmp_day"] - ep["prior_delivery_day"] < 548)) * 0.5,
    }
    for code, probability in history.items():
        p = _f(probability) * sigmoid(ep["engagement"] + 1.5)
        add(t.at_first_visit(f"history/{code}", p), f"history/{code}", code)
        add(t.rate(f"history/{code}", "late", 0.01 * (probability > 0)), f"history/{code}/late", code)

    zcode_era = np.exp(0.2 * (ep["week12_day"] - day_number(date(2023, 1, 1))) / 365.25)  # Z-codes: ~+20%/year
    for domain, codes in V.SDOH_ZCODES.items():
        need = _f(ep["homeless"]) if domain == "homelessness" else _f(ep.get(f"need_{domain}", 0))
        for phase in ("pre", "early", "late", "postpartum"):
            e = t.rate(f"z/{domain}", phase, 0.0004 * need * zcode_era * coding)
            add(
                e,
                f"z/{domain}/{phase}",
                t.rng.choice({code: 1 for code in codes}, f"z/{domain}/code", t.id[e.row], e.day, e.seq),
            )

    for code, (phase, per_day) in {
        "O21": ("early", np.full(t.n, 0.0004)),
        "O2390": ("early", np.full(t.n, 0.0005)),
    }.items():
        add(t.rate(f"complication/{code}", phase, per_day), f"complication/{code}", code)
    # coded from the onset: diagnosed, then recoded at later visits
    for code, (onset, per_day) in {
        "O2441": ("gdm_diagnosed_day", _f(ep["gdm_true"]) * 0.03),
        "O139": ("ghtn_onset_day", _f(ep["ghtn_true"]) * 0.02),
        "O1490": ("preeclampsia_onset_day", _f(ep["preeclampsia_true"]) * 0.05),
        "O3659": ("ghtn_onset_day", _f(ep["lbw_true"]) * 0.01),  # growth restriction, seen from ~week 20
    }.items():
        add(t.rate_from(f"complication/{code}", ep[onset], per_day), f"complication/{code}", code)

    ended = t.once("delivery_dx", "delivery", 1.0)
    # the claim that ends the pregnancy carries its weeks; when no prenatal claim came
    # first, it is the identifying claim
    identifying = np.where(t.ep["first_visit_day"][ended.row] < 0, t.ep["identified_day"][ended.row], np.nan)
    frames.append(_rows(t, ended, "dx/z3a/end", identifying, icd10_code=_z3a(t, ended)))
    lost = ended.take(ep["lost"][ended.row])
    add(lost, "loss/code", np.vectorize(P.LOSS_CODES.get)(ep["loss_type"][lost.row]) if len(lost.row) else "")
    delivery = ended.take(~ep["lost"][ended.row])
    add(delivery, "delivery/code", t.rng.choice(_DELIVERY, "delivery/code", t.id[delivery.row]))
    rows = delivery.row
    outcome_code = np.select([ep["stillbirth_true"][rows], ep["twins"][rows]], ["Z371", "Z372"], "Z370")
    add(delivery, "delivery/outcome", outcome_code)
    add(delivery.take(ep["preterm_true"][rows]), "delivery/preterm", "O6014")
    smm = delivery.take(ep["smm_true"][rows])
    add(smm, "delivery/smm", t.rng.choice(_SMM_CODES, "delivery/smm", t.id[smm.row]))
    add(
        t.rate("postpartum_depression", "postpartum", 0.006 * c["depression"]),
        "postpartum_depression",
        "F530",
    )
    return _concat(t, frames, "claim_line_id", "service_date", "medical")


# ---------------------------------------------------------------- pharmacy


def pharmacy_table(t: Timeline) -> pd.DataFrame:
    ep, c = t.ep, _context(t.ep)
    adherent = sigmoid(ep["engagement"] + 0.5)
    monthly = 1 / 30.0
    any_phase = ("pre", "early", "late", "postpartum", "interpregnancy")
    # (drug class, phases or an onset column, fills per day, days supplied)
    streams: list[tuple[str, tuple[str, ...] | str, np.ndarray | float, int]] = [
        ("antihypertensive", any_phase, monthly * c["hypertension"] * adherent, 30),
        ("antihypertensive", "preeclampsia_onset_day", monthly * _f(ep["preeclampsia_true"]) * 0.8, 30),
        ("antihypertensive", "ghtn_onset_day", monthly * _f(ep["ghtn_true"]) * 0.4, 30),
        ("insulin", any_phase, monthly * c["diabetes"] * adherent, 30),
        ("insulin", "gdm_diagnosed_day", monthly * _f(ep["gdm_true"]) * 0.25, 30),
        (
            "metformin",
            ("pre", "interpregnancy"),
            monthly * (0.8 * c["diabetes"] + 0.3 * c["pcos"]) * adherent,
            30,
        ),
        ("antidepressant", any_phase, monthly * (c["depression"] + 0.6 * c["anxiety"]) * 0.6 * adherent, 30),
        ("antipsychotic", any_phase, monthly * c["serious_mental_illness"] * 0.7 * adherent, 30),
        ("opioid_use_disorder_treatment", any_phase, monthly * c["opioid_use_disorder"] * 0.6, 30),
        (
            "opioid_analgesic",
            ("pre", "interpregnancy"),
            0.0008 * np.exp(0.4 * ep["deprivation"] + 0.5 * ep["behavioral"]) + 0.01 * c["opioid_use_disorder"],
            7,
        ),
        ("opioid_analgesic", ("postpartum",), 0.004 * np.ones(t.n), 5),
        ("asthma_controller", any_phase, monthly * c["asthma"] * 0.5 * adherent, 30),
        ("levothyroxine", any_phase, monthly * c["thyroid_disorder"] * 0.8 * adherent, 30),
        (
            "antibiotic",
            ("pre", "early", "late", "postpartum", "interpregnancy"),
            0.0015 * np.exp(0.2 * ep["deprivation"]),
            7,
        ),
        ("prenatal_vitamin", ("early", "late"), monthly * 0.8 * sigmoid(ep["engagement"] + 0.5), 30),
        ("antiemetic", ("early",), 0.003 * np.ones(t.n), 10),
        ("low_dose_aspirin", ("late",), monthly * c["high_risk"] * 0.5 * adherent, 90),
        ("progesterone", ("late",), monthly * _f(ep["prior_preterm"]) * 0.4 * adherent, 30),
        ("nicotine_replacement", ("pre", "early"), 0.003 * c["tobacco_use"], 30),
        ("contraceptive", ("pre", "interpregnancy"), 0.008 * sigmoid(ep["engagement"]), 90),
    ]
    frames = []
    for number, (drug, phase_names, per_day, supply) in enumerate(streams):
        for phase in (phase_names,) if isinstance(phase_names, str) else phase_names:
            if phase in ep:  # an onset: from that day to the delivery
                e = t.rate_from(f"rx/{drug}/{number}", ep[phase], per_day)
            else:
                e = t.rate(f"rx/{drug}/{number}", phase, per_day)
            long_supply = t.rng.uniform(f"rx/{drug}/supply", t.id[e.row], e.day) < 0.2
            days_supply = np.where(long_supply & (supply == 30), 90, supply)
            frames.append(_rows(t, e, f"rx/{drug}/{number}/{phase}", drug_class=drug, days_supply=days_supply))
    return _concat(t, frames, "fill_id", "fill_date", "pharmacy")


# ---------------------------------------------------------------- labs


def _value(t: Timeline, e: Emitted, stream: str, mean: np.ndarray | float, sd: float, log: bool = False) -> np.ndarray:
    noise = t.rng.normal(f"lab/{stream}/value", t.id[e.row], e.day, e.seq)
    mean = np.broadcast_to(np.asarray(mean, dtype=np.float64), (t.n,))
    if log:
        return np.exp(np.log(mean[e.row]) + sd * noise)
    return mean[e.row] + sd * noise


def labs_table(t: Timeline) -> pd.DataFrame:
    ep, c = t.ep, _context(t.ep)
    card, eng, dep = ep["cardio"], ep["engagement"], ep["deprivation"]
    engaged = sigmoid(eng + 1.5)
    asian_or_hispanic = _f(np.isin(ep["race_ethnicity"], ["asian_pacific_islander", "hispanic"]))
    frames: list[pd.DataFrame] = []

    calls: dict[str, int] = {}

    def add(test: str, e: Emitted, values: np.ndarray) -> None:
        unit, _, _ = V.LAB_TESTS[test]
        calls[test] = calls.get(test, 0) + 1  # event sets of one test may share a day: a stream each
        missing = t.rng.uniform(f"lab/{test}/missing", t.id[e.row], e.day, e.seq) < 0.06 + 0.1 * sigmoid(-eng[e.row])
        frames.append(
            _rows(
                t,
                e,
                f"lab/{test}/{calls[test]}",
                test_code=test,
                result_value=np.where(missing, np.nan, values),
                result_unit=unit,
            )
        )

    def ordered(test: str, pre_rate, early_probability, late_probability=None) -> list[tuple[str, Emitted]]:
        events = [
            ("pre", t.rate(f"lab/{test}", "pre", pre_rate)),
            ("interpregnancy", t.rate(f"lab/{test}", "interpregnancy", pre_rate)),
            ("early", t.at_first_visit(f"lab/{test}", early_probability)),
        ]
        if late_probability is not None:
            events.append(("late", t.once(f"lab/{test}", "late", late_probability)))
        return events

    hba1c_mean = 5.15 + 0.22 * card + 2.3 * c["diabetes"] + 0.15 * _f(ep["gdm_true"])
    for _, e in ordered(
        "hba1c",
        0.0004 * np.exp(0.6 * card + 2.0 * c["diabetes"] + 0.5 * c["obese"]) * c["engaged"],
        sigmoid(
            -2.2 + 1.2 * c["obese"] + 3.0 * c["diabetes"] + 1.0 * _f(ep["prior_gdm"]) + 0.6 * asian_or_hispanic + eng
        ),
    ):
        add("hba1c", e, _value(t, e, "hba1c", hba1c_mean, 0.25))

    gct_mean = 108 + 11 * card + 48 * _f(ep["gdm_true"]) + 60 * c["diabetes"]
    early_gct = sigmoid(-2.8 + 1.1 * c["obese"] + 1.5 * _f(ep["prior_gdm"]) + 0.6 * asian_or_hispanic + eng)
    lmp = ep["lmp_day"]
    for phase, e in (
        ("early", t.at_first_visit("lab/gct", early_gct)),  # early screening of members at risk
        ("late", t.once_in("lab/gct", lmp + 168, lmp + 196, 0.85 * engaged)),  # weeks 24-28
    ):
        add("glucose_challenge", e, _value(t, e, f"gct/{phase}", gct_mean, 18.0))

    def after_preeclampsia(e: Emitted) -> np.ndarray:
        """1 for a result taken after the onset of this pregnancy's preeclampsia."""
        onset = ep["preeclampsia_onset_day"][e.row]
        return c["late_preeclampsia"][e.row] * (e.day >= onset) * (e.day < ep["pregnancy_end_day"][e.row])

    hb_mean = 12.5 - 0.25 * dep - 1.6 * c["sickle_cell_disease"] - 1.3 * c["anemia"]
    for phase, e in ordered("hemoglobin", 0.0005 * c["engaged"], 0.85 * engaged, 0.7 * engaged):
        values = _value(t, e, "hemoglobin", hb_mean - (0.5 if phase == "late" else 0.0), 0.9)
        add("hemoglobin", e, values)
        add("platelets", e, _value(t, e, "platelets", 250, 50.0) - 45 * after_preeclampsia(e))

    kidney_risk = c["hypertension"] + c["diabetes"] + 2 * c["chronic_kidney_disease"]
    for _, e in ordered("creatinine", 0.0002 * (1 + 4 * kidney_risk), sigmoid(-2.5 + 2.0 * kidney_risk + eng)):
        add(
            "creatinine",
            e,
            _value(t, e, "creatinine", 0.6 + 0.6 * c["chronic_kidney_disease"] + 0.03 * card, 0.08),
        )

    protein_early = sigmoid(-3.0 + 2.2 * (c["hypertension"] + c["diabetes"] + _f(ep["prior_preeclampsia"])) + eng)
    for _, e in ordered("urine_protein_ratio", 0.0001 * (1 + 4 * kidney_risk), protein_early):
        mean = 0.08 + 0.12 * c["hypertension"] + 0.2 * c["chronic_kidney_disease"]
        add("urine_protein_ratio", e, _value(t, e, "protein", mean, 0.45, log=True))
    # checked once hypertension appears; raised by preeclampsia
    hypertension_onset = np.minimum(ep["ghtn_onset_day"], ep["preeclampsia_onset_day"])
    worked_up = 0.9 * np.maximum(c["late_preeclampsia"], _f(ep["ghtn_true"]))
    e = t.once_in("lab/urine_protein_ratio/onset", hypertension_onset, ep["pregnancy_end_day"], worked_up)
    mean = 0.08 + 0.12 * c["hypertension"] + 0.2 * c["chronic_kidney_disease"]
    raised = _value(t, e, "protein/onset", mean, 0.45, log=True) * np.exp(1.6 * after_preeclampsia(e))
    add("urine_protein_ratio", e, raised)

    for _, e in ordered(
        "tsh", 0.0003 * (1 + 6 * c["thyroid_disorder"]), sigmoid(-2.5 + 2.5 * c["thyroid_disorder"] + eng)
    ):
        add("tsh", e, _value(t, e, "tsh", 1.8 + 1.5 * c["thyroid_disorder"], 0.45, log=True))

    uds = t.at_first_visit("lab/uds", sigmoid(-2.2 + 2.5 * c["substance"] + 0.4 * ep["behavioral"]))
    positive = (c["substance"][uds.row] > 0) & (t.rng.uniform("lab/uds/pos", t.id[uds.row]) < 0.75) | (
        t.rng.uniform("lab/uds/other", t.id[uds.row]) < 0.05
    )
    add("urine_drug_screen", uds, positive.astype(np.float64))

    panel = t.at_first_visit("lab/panel", 0.85 * engaged)
    add("hiv_screen", panel, _f(ep["hiv"][panel.row]))
    syphilis = t.rng.uniform("lab/syphilis", t.id[panel.row]) < 0.004 * np.exp(0.6 * dep[panel.row])
    add("syphilis_screen", panel, syphilis.astype(np.float64))

    bmi = ep["bmi_k"]
    for _, e in ordered("bmi", 0.001 * c["engaged"], 0.7 * engaged):
        add("bmi", e, np.round(_value(t, e, "bmi", bmi, 0.7), 1))
    bp_mean = 110 + 5 * card + 24 * c["hypertension"]
    for phase, e in ordered("systolic_bp", 0.0015 * c["engaged"], 0.8 * engaged, 0.9 * engaged):
        add("systolic_bp", e, np.round(_value(t, e, f"sbp/{phase}", bp_mean, 9.0) + 14 * after_preeclampsia(e)))
    return _concat(t, frames, "lab_id", "order_date", "lab")


# ---------------------------------------------------------------- social-needs screening


def screenings_table(t: Timeline) -> pd.DataFrame:
    ep = t.ep
    year = (ep["week12_day"] - day_number(date(2021, 1, 1))) / 365.25  # screening spreads over time
    screened_at_intake = sigmoid(-1.6 + 0.35 * year + 0.6 * ep["engagement"])
    events = [
        t.at_first_visit("screen", screened_at_intake, within_days=14),
        t.once("screen", "late", 0.3 * np.ones(t.n)),
        t.rate("screen", "pre", 0.0002 * np.exp(0.35 * year)),
        t.once("screen", "postpartum", 0.3 * np.ones(t.n)),
    ]
    e = Emitted(
        np.concatenate([x.row for x in events]),
        np.concatenate([x.day for x in events]),
        np.concatenate([x.seq + 10 * i for i, x in enumerate(events)]),
    )
    screening_id = _ids(t, e, "screen")
    declined_all = t.rng.uniform("screen/declined", screening_id) < 0.03 * np.exp(0.5 * ep["behavioral"][e.row])
    frames = []
    received = e.day + _lags(t, screening_id, "screening")
    for domain in V.SDOH_DOMAINS:
        need = ep["homeless"][e.row] if domain == "homelessness" else ep[f"need_{domain}"][e.row]
        u = t.rng.uniform(f"screen/{domain}", screening_id)
        answer = np.where(
            declined_all | (u > 0.975),
            "declined",
            np.where(need, np.where(u < 0.85, "yes", "no"), np.where(u < 0.03, "yes", "no")),
        )
        frames.append(
            pd.DataFrame(
                {
                    "screening_id": screening_id,
                    "member_id": ep["member_id"][e.row],
                    "screening_day": e.day,
                    "received_day": received,
                    "domain": domain,
                    "answer": answer,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- shared helpers


def _z3a(t: Timeline, e: Emitted) -> np.ndarray:
    """Z3A codes of events: completed weeks by the clinician's dating on the event's day."""
    weeks = coded_weeks(e.day, t.ep["lmp_day"][e.row], t.ep["dating_error_days"][e.row])
    return code_of(weeks) if len(e.row) else np.array([], dtype=str)


def _identifying(t: Timeline, e: Emitted) -> np.ndarray:
    """Receipt days of prenatal visits: the first visit's claim identifies the episode (it
    arrives on the identification day); later visits get a drawn lag (NaN)."""
    return np.where(e.seq == 0, t.ep["identified_day"][e.row], np.nan)


def _ids(t: Timeline, e: Emitted, stream: str) -> np.ndarray:
    """Stable 63-bit identifiers from the event's episode, stream, day and sequence."""
    u = t.rng.uniform(f"id/{stream}", t.id[e.row], e.day, e.seq)
    return (u * float(2**62)).astype(np.int64)


def _lags(t: Timeline, ids: np.ndarray, kind: str) -> np.ndarray:
    """Days from service to receipt, by source (params: MEDICAL_LAG and the rest)."""
    if kind == "medical":
        return medical_lag(t.rng, "lag/medical", ids)
    if kind == "pharmacy":
        return (t.rng.uniform("lag/pharmacy", ids) < P.PHARMACY_NEXT_DAY).astype(np.int64)
    low, high = {"lab": P.LAB_LAG_DAYS, "screening": P.SCREENING_LAG_DAYS}[kind]
    return low + np.floor(t.rng.uniform(f"lag/{kind}", ids) * (high - low + 1)).astype(np.int64)


def _rows(t: Timeline, e: Emitted, stream: str, received: np.ndarray | None = None, **columns) -> pd.DataFrame:
    """One row per event; `received`: its receipt day where it is known already (else a lag is drawn)."""
    data = {"_id": _ids(t, e, stream), "member_id": t.ep["member_id"][e.row], "_day": e.day}
    data["_received"] = np.full(len(e.row), np.nan) if received is None else received.astype(np.float64)
    for name, value in columns.items():
        if value is None:
            data[name] = np.full(len(e.row), np.nan)
        elif np.ndim(value) == 0:
            data[name] = np.full(len(e.row), value, dtype=object if isinstance(value, str) else None)
        else:
            data[name] = value
    return pd.DataFrame(data)


def _concat(t: Timeline, frames: list[pd.DataFrame], id_column: str, day_column: str, lag: str) -> pd.DataFrame:
    """The table with received days filled in; rows received after the cut-off stay (the
    caller splits what the plan had received from what was still in transit)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    drawn = out["_day"].to_numpy() + _lags(t, out["_id"].to_numpy(), lag)
    if "length_of_stay_days" in out:  # a stay's facility claim comes after the discharge
        drawn = drawn + np.nan_to_num(out["length_of_stay_days"].to_numpy(dtype=np.float64)).astype(np.int64)
    known = out["_received"].to_numpy()
    out["received_day"] = np.where(np.isnan(known), drawn, known).astype(np.int64)
    out = out.drop(columns="_received")
    return out.rename(columns={"_id": id_column, "_day": day_column.replace("_date", "_day")})


TABLE_BUILDERS: dict[str, Callable[[Timeline], pd.DataFrame]] = {
    "encounters": encounters_table,
    "diagnoses": diagnoses_table,
    "pharmacy_fills": pharmacy_table,
    "lab_results": labs_table,
    "sdoh_screenings": screenings_table,
}
