"""What a generated cohort looks like next to its targets: base rates, recovered effect
sizes, missingness, episodes per member and the oracle's AUROC/AUPRC.

Exposures come from the generator's truth (oracle table), outcomes from the recorded
outcomes table, so the effects are what an analyst would estimate from the claims
if exposures were measured without error.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml.data import schema as S
from ml.data.labels import OUTCOME_COLUMNS
from ml.data.store import TableStore
from ml.evaluation.metrics import classification_metrics
from ml.synth.targets import BASE_RATES, EFFECTS, OFF, TIMING, effect_interval, proportion_interval, verdict

# chronic hypertension as an exposure (and its base rate) is the generator's truth, not the coded outcome
OUTCOMES = tuple(c for c in OUTCOME_COLUMNS if c != "chronic_hypertension")


def _exposures() -> dict[str, Column]:
    bmi = F.col("bmi")
    normal = bmi < 25
    race = F.col("race_ethnicity")

    def versus(group: Column, reference: Column) -> Column:  # null outside both groups
        return F.when(group, True).when(reference, False)

    return {
        "obesity": bmi >= 30,
        "obesity_vs_normal": versus((bmi >= 30) & (bmi < 40), normal),
        "overweight_vs_normal": versus((bmi >= 25) & (bmi < 30), normal),
        "severe_obesity_vs_normal": versus(bmi >= 40, normal),
        "age_40_plus": F.col("age_years") >= 40,
        "black_vs_white": versus(race == "black", race == "white"),
    }


def profile_frame(store: TableStore) -> DataFrame:
    """Closed episodes: recorded outcomes joined to the generator's truth."""
    outcomes = store.require(S.OUTCOMES.name).select("episode_id", *OUTCOMES)
    truth = store.require(S.ORACLE.name).drop("member_id", "preeclampsia", "gestational_diabetes")
    frame = outcomes.join(truth, "episode_id")
    return frame.select("*", *[c.alias(n) for n, c in _exposures().items()])


def _effect(counts: dict[str, float], measure: str) -> float | None:
    exposed, exposed_cases = counts["n1"], counts["y1"]
    unexposed, unexposed_cases = counts["n0"], counts["y0"]
    if not exposed or not unexposed:
        return None
    p1, p0 = exposed_cases / exposed, unexposed_cases / unexposed
    if measure == "rate":
        return p1
    if measure == "RR":
        return p1 / p0 if p0 else None
    if p1 in (0, 1) or p0 in (0, 1):
        return None
    return (p1 / (1 - p1)) / (p0 / (1 - p0))


def profile(store: TableStore) -> dict[str, Any]:
    """The whole profile: rates and effects, timing, missingness, and the oracle."""
    result = rates_and_effects(store)
    result["timing"] = timing(store)
    result["missingness"] = missingness(store)
    return result


def timing(store: TableStore) -> dict[str, dict[str, float]]:
    """When care starts (trimester of the first prenatal visit, among births), how late
    claims arrive, how many pregnancies end in a loss and how close the episode algorithm's
    LMP is to the true one, next to their targets (ml/synth/targets.py: TIMING)."""
    births = store.require(S.ORACLE.name).where(F.col("pregnancy_end") == "delivery")
    start = births.select("prenatal_care_start_week")
    week = F.col("prenatal_care_start_week")
    shares = start.agg(
        F.count("*").alias("rows"),
        F.avg((week < 14).cast("double")).alias("first"),
        F.avg(((week >= 14) & (week < 28)).cast("double")).alias("second"),
        F.avg((week >= 28).cast("double")).alias("third"),
        F.avg(week.isNull().cast("double")).alias("none"),
    ).first()
    observed = {
        f"prenatal care starts: {name} trimester"
        if name != "none"
        else "prenatal care starts: none before delivery": shares[name]
        for name in ("first", "second", "third", "none")
    }

    rows = dict.fromkeys(observed, shares["rows"])

    def lag_shares(table: str, date_column: str, *days: int) -> list[tuple[float, int]]:
        df = store.require(table)
        newest = df.agg(F.max("received_date")).first()[0]
        # Rows a year before the cut-off: every one of their claims has arrived by then.
        settled = df.where(F.col(date_column) <= F.date_sub(F.lit(newest), 365))
        lag = F.datediff(F.col("received_date"), F.col(date_column))
        row = settled.agg(F.count("*").alias("rows"), *[F.avg((lag <= d).cast("double")).alias(f"d{d}") for d in days])
        row = row.first()
        return [(row[f"d{d}"], row["rows"]) for d in days]

    within_15, within_90, within_365 = lag_shares(S.DIAGNOSES.name, "service_date", 15, 90, 365)
    (same_day,) = lag_shares(S.PHARMACY_FILLS.name, "fill_date", 0)
    (labs_7,) = lag_shares(S.LAB_RESULTS.name, "order_date", 7)
    lags = {
        "medical claims received within 15 days": within_15,
        "medical claims received within 90 days": within_90,
        "medical claims received within 365 days": within_365,
        "pharmacy claims received the same day": same_day,
        "lab results received within 7 days": labs_7,
    }
    observed |= {name: share for name, (share, _) in lags.items()}
    rows |= {name: n for name, (_, n) in lags.items()}
    # losses and the LMP estimate: episodes the plan identified, against the generator's truth
    ends = (
        store.require(S.EPISODES.name)
        .select("episode_id", "lmp_date")
        .join(store.require(S.ORACLE.name).select("episode_id", "pregnancy_end", "true_lmp_date"), "episode_id")
        .agg(
            F.count("*").alias("rows"),
            F.avg((F.col("pregnancy_end") != "delivery").cast("double")).alias("loss"),
            *[
                F.avg((F.col("pregnancy_end") == kind).cast("double")).alias(kind)
                for kind in ("spontaneous_loss", "induced_loss", "ectopic")
            ],
            F.avg((F.abs(F.datediff("lmp_date", "true_lmp_date")) <= 7).cast("double")).alias("dating"),
        )
        .first()
    )
    for name, column in {
        "pregnancies ending in a loss": "loss",
        "spontaneous losses": "spontaneous_loss",
        "induced losses": "induced_loss",
        "ectopic pregnancies": "ectopic",
        "estimated LMP within 7 days of the true LMP": "dating",
    }.items():
        observed[name], rows[name] = ends[column], ends["rows"]
    identified = store.require(S.EPISODES.name).select((F.datediff("identified_date", "lmp_date") / 7.0).alias("weeks"))
    median = identified.agg(F.percentile("weeks", 0.5)).first()[0]
    result = {}
    for name, value in observed.items():
        target = TIMING[name]
        result[name] = {
            "observed": round(float(value or 0.0), 4),
            "target": target.target,
            "low": target.low,
            "high": target.high,
            "rows": int(rows[name] or 0),
        }
    result["median gestational week at identification"] = {"observed": round(float(median or 0.0), 1)}
    return result


def rates_and_effects(store: TableStore) -> dict[str, Any]:
    """Everything but missingness: needs only members, episodes, outcomes and the oracle."""
    frame = profile_frame(store).cache()
    try:
        return _rates_and_effects(store, frame)
    finally:
        frame.unpersist()


def _rates_and_effects(store: TableStore, frame: DataFrame) -> dict[str, Any]:
    rate = lambda c: F.avg(F.col(c).cast("double"))  # noqa: E731
    observed = (
        frame.agg(
            F.count("*").alias("closed"),
            *[rate(name).alias(name) for name in OUTCOMES],
            F.avg((F.col("preterm_birth") | F.col("low_birthweight")).cast("double")).alias(
                "preterm_or_low_birthweight"
            ),
            rate("chronic_hypertension").alias("chronic_hypertension"),
            rate("pregestational_diabetes").alias("pregestational_diabetes"),
            rate("twins").alias("twins"),
        )
        .first()
        .asDict()
    )
    all_episodes = store.require(S.ORACLE.name)
    everyone = all_episodes.agg(F.count("*"), F.avg((~F.col("prior_enrollment")).cast("double"))).first()
    all_count, observed["no_prior_enrollment"] = everyone[0], everyone[1]

    cells = []
    for name, effect in EFFECTS.items():
        x, y = F.col(effect.exposure), F.col(effect.outcome)
        for flag, exposure in (("1", x), ("0", ~x)):
            cells.append(F.sum(exposure.cast("int")).alias(f"{name}|n{flag}"))
            cells.append(F.sum((exposure & y).cast("int")).alias(f"{name}|y{flag}"))
    counts = frame.agg(*cells).first().asDict()
    effects = {}
    for name, effect in EFFECTS.items():
        cell = {key: counts[f"{name}|{key}"] or 0 for key in ("n1", "y1", "n0", "y0")}
        value = _effect(cell, effect.measure)
        effects[name] = {
            "observed": None if value is None else round(value, 3),
            "target": round(effect.target, 3),
            "measure": effect.measure,
            "exposed": int(cell["n1"]),
            "cells": {key: int(n) for key, n in cell.items()},
        }

    scored = frame.select("label_probability", F.col("high_risk").cast("int").alias("y")).toPandas()
    oracle = classification_metrics(scored["y"].to_numpy(), scored["label_probability"].to_numpy())

    members = store.require(S.MEMBERS.name)
    episodes = store.require(S.EPISODES.name)
    per_member = (
        episodes.groupBy("member_id")
        .count()
        .groupBy(F.col("count").alias("episodes"))
        .count()
        .orderBy("episodes")
        .collect()
    )
    return {
        "members": members.count(),
        "episodes": episodes.count(),
        "closed_episodes": observed["closed"],
        "episodes_per_member": {int(r["episodes"]): int(r["count"]) for r in per_member},
        "base_rates": {
            name: {
                "observed": round(observed[name], 4),
                "target": round(target.target, 4),
                "low": round(target.low, 4),
                "high": round(target.high, 4),
                "rows": int(all_count if name == "no_prior_enrollment" else observed["closed"]),
            }
            for name, target in BASE_RATES.items()
        },
        "odds_ratios": effects,
        "oracle": {
            "auroc": round(oracle["auroc"], 4),
            "auprc": round(oracle["auprc"], 4),
            "prevalence": round(oracle["prevalence"], 4),
        },
    }


def missingness(store: TableStore) -> dict[str, float]:
    """Share missing, by group of information a feature would draw on."""
    members = store.require(S.MEMBERS.name)
    labs = store.require(S.LAB_RESULTS.name)
    episodes = store.require(S.EPISODES.name).select("episode_id", "member_id", "lmp_date", "identified_date")

    def before(events: DataFrame, date_column: str, days: int, anchor: str = "identified_date") -> float:
        """Share of episodes with no event in the `days` before the anchor date."""
        joined = episodes.join(events.select("member_id", F.col(date_column).alias("d")), "member_id", "left")
        window = (F.col("d") < F.col(anchor)) & (F.col("d") >= F.date_sub(anchor, days))
        seen = joined.groupBy("episode_id").agg(F.max(window.cast("int")).alias("seen"))
        return float(seen.agg(F.avg((F.coalesce("seen", F.lit(0)) == 0).cast("double"))).first()[0])

    truth = store.require(S.ORACLE.name)
    return {
        "area_indices (member address not geocoded)": _share_null(members, "area_deprivation_index"),
        "enrollment (no enrollment before the pregnancy)": float(
            truth.agg(F.avg((~F.col("prior_enrollment")).cast("double"))).first()[0]
        ),
        "claims history (no diagnosis in the 12 months before the pregnancy)": before(
            store.require(S.DIAGNOSES.name), "service_date", 365, anchor="lmp_date"
        ),
        "labs (no lab ordered in the 12 months before identification)": before(labs, "order_date", 365),
        "labs (ordered, no result returned)": _share_null(labs, "result_value"),
        "sdoh (never screened before identification)": before(
            store.require(S.SDOH_SCREENINGS.name), "screening_date", 10_000
        ),
    }


def _share_null(df: DataFrame, column: str) -> float:
    return float(df.agg(F.avg(F.col(column).isNull().cast("double"))).first()[0])


def verdicts(result: dict[str, Any]) -> dict[str, str]:
    """ok / uncertain / off for every base rate, timing share and key effect, judged with the
    cohort's size: outside the tolerance is `off` only when the 99% interval misses it too.
    The CLI's verdicts and exit status, with or without --json."""
    out = {}
    for name, r in result["base_rates"].items():
        interval = proportion_interval(r["observed"], r["rows"])
        out[f"base_rate:{name}"] = verdict(r["observed"], interval, r["low"], r["high"])
    for name, t in result.get("timing", {}).items():
        if "target" in t:
            interval = proportion_interval(t["observed"], t["rows"])
            out[f"timing:{name}"] = verdict(t["observed"], interval, t["low"], t["high"])
    for name, effect in EFFECTS.items():
        if effect.key:
            e = result["odds_ratios"][name]
            interval = effect_interval(effect.measure, **e["cells"])
            out[f"effect:{name}"] = verdict(e["observed"], interval, *effect.band)
    return out


def with_verdicts(result: dict[str, Any]) -> dict[str, Any]:
    """`result` with a `verdict` on each judged entry and an overall `status` (off if any is)."""
    judged = verdicts(result)
    sections = {"base_rate": "base_rates", "timing": "timing", "effect": "odds_ratios"}
    for key, value in judged.items():
        section, name = key.split(":", 1)
        result[sections[section]][name]["verdict"] = value
    result["status"] = OFF if OFF in judged.values() else "ok"
    return result


def within_targets(result: dict[str, Any]) -> dict[str, bool]:
    """Which base rates and key effects are within tolerance, whatever the sample size: the
    calibration test's strict rule on 50,000 episodes."""
    checks = {f"base_rate:{n}": BASE_RATES[n].ok(v["observed"]) for n, v in result["base_rates"].items()}
    for name, value in result.get("timing", {}).items():
        if name in TIMING:
            checks[f"timing:{name}"] = TIMING[name].ok(value["observed"])
    for name, effect in EFFECTS.items():
        if effect.key:
            value = result["odds_ratios"][name]["observed"]
            checks[f"effect:{name}"] = value is not None and effect.ok(value)
    return checks
