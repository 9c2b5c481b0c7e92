"""Generating the synthetic cohort in Spark and writing it through the table adapter.

The generative model (people, pregnancy, events) is vectorised numpy run inside Spark
partitions with mapInPandas: nothing is collected to the driver, so a cluster can
produce millions of episodes, and the counter-based random numbers make the tables
identical whatever the number of partitions or cores.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable, Iterator
from datetime import date

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ml.data import schema as S
from ml.data import value_sets as V
from ml.data.gestation import TERM_DAYS
from ml.data.store import TableStore
from ml.errors import DataError
from ml.synth import params as P
from ml.synth.events import TABLE_BUILDERS, Timeline
from ml.synth.people import Arrays, CodingDrift, CohortSpec, Influx, people
from ml.synth.pregnancy import episodes
from ml.synth.rng import Streams

MEMBERS_PER_PARTITION = 25_000
Progress = Callable[[str], None]


def parse_month(value: str, name: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{4})-(\d{2})", value or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise DataError(f"--{name}: expected a month as YYYY-MM, got '{value}'")
    return int(match.group(1)), int(match.group(2))


def cohort_spec(
    members: int,
    seed: int,
    start: str,
    end: str | None,
    partitions: int | None = None,
    today: date | None = None,
    drift: str | None = None,
    influx: str | None = None,
) -> CohortSpec:
    """Validated generator settings. The data cut-off is the last day of `end`'s month, or
    today when `end` is None: the tables hold what a plan would have received by then."""
    if members < 1:
        raise DataError(f"--members must be at least 1, got {members}")
    start_year, start_month = parse_month(start, "start")
    if end is None:
        cutoff = today or date.today()
    else:
        end_year, end_month = parse_month(end, "end")
        cutoff = date(end_year, end_month, calendar.monthrange(end_year, end_month)[1])
    if date(start_year, start_month, 1) > cutoff:
        raise DataError(f"--start {start} is after --end {end or f'{cutoff:%Y-%m}'}")
    if partitions is not None and partitions < 1:
        raise DataError(f"--partitions must be at least 1, got {partitions}")
    partitions = partitions or max(2, math.ceil(members / MEMBERS_PER_PARTITION))
    joining = influx_of(influx) if influx else None
    if joining and not date(start_year, start_month, 1) <= joining.since <= cutoff:
        raise DataError(f"--influx {influx}: the month must lie between --start and the data cut-off ({cutoff})")
    return CohortSpec(
        members,
        seed,
        date(start_year, start_month, 1),
        cutoff,
        partitions,
        coding_drift(drift) if drift else None,
        joining,
    )


# ---------------------------------------------------------------- the episode frame


def _simulate(member_ids: np.ndarray, spec: CohortSpec) -> Arrays:
    rng = Streams(spec.seed)
    return episodes(people(member_ids, rng), rng, spec)


def _spark_type(values: np.ndarray) -> T.DataType:
    if values.dtype == bool:
        return T.BooleanType()
    if np.issubdtype(values.dtype, np.integer):
        return T.LongType()
    if np.issubdtype(values.dtype, np.floating):
        return T.DoubleType()
    return T.StringType()


def episode_frame(spark: SparkSession, spec: CohortSpec) -> DataFrame:
    """Every episode with its member's attributes and the generator's truth, one row each."""
    probe = _simulate(np.arange(1, 65), spec)  # synthetic ids only decide the column types
    schema = T.StructType([T.StructField(name, _spark_type(values)) for name, values in probe.items()])
    names = list(probe)

    def simulate(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            arrays = _simulate(batch["id"].to_numpy(dtype=np.int64), spec)
            yield pd.DataFrame({name: arrays[name] for name in names})

    members = spark.range(1, spec.all_members + 1, 1, spec.partitions)
    return members.mapInPandas(simulate, schema)


def _arrays(batch: pd.DataFrame) -> Arrays:
    return {name: batch[name].to_numpy() for name in batch.columns}


# ---------------------------------------------------------------- tables


def _date(days: Column | str) -> Column:
    """Day numbers (days since 1970-01-01, as the numpy model keeps dates) to dates."""
    days = F.col(days) if isinstance(days, str) else days
    return F.date_add(F.lit("1970-01-01").cast("date"), days.cast("int"))


def _null_nan(name: str) -> Column:
    return F.when(~F.isnan(F.col(name)), F.col(name))


def _conform(df: DataFrame, table: S.Table) -> DataFrame:
    """Exactly the table's columns, in order, with its types."""
    return df.select(*[F.col(c.name).cast(c.type).alias(c.name) for c in table.columns])


def members_table(ep: DataFrame) -> DataFrame:
    first = ep.where(F.col("k") == 1)
    return _conform(
        first.select(
            "member_id",
            _date("birth_day").alias("birth_date"),
            "race_ethnicity",
            "primary_language",
            F.when(F.col("rural") > 0, "rural").otherwise("urban").alias("rurality"),
            F.round(_null_nan("area_deprivation_index")).alias("area_deprivation_index"),
            _null_nan("social_vulnerability_index").alias("social_vulnerability_index"),
        ),
        S.MEMBERS,
    )


def episodes_table(ep: DataFrame, spec: CohortSpec) -> DataFrame:
    """The episodes the plan knew of at the cut-off: identified by then; delivered or lost,
    as far as it knew, when that claim had arrived. The LMP is the episode algorithm's
    estimate from the identifying claim's weeks of gestation (Z3A), not the true one."""
    ended = F.col("end_recorded_day") <= F.lit(spec.end_day)
    delivered = ended & ~F.col("lost")
    lost = ended & F.col("lost")
    return _conform(
        ep.where(F.col("identified_day") <= F.lit(spec.end_day)).select(
            "episode_id",
            "member_id",
            _date("lmp_estimate_day").alias("lmp_date"),
            _date("identified_day").alias("identified_date"),
            _date(F.col("lmp_estimate_day") + TERM_DAYS).alias("expected_delivery_date"),
            F.when(delivered, _date("pregnancy_end_day")).alias("delivery_date"),
            F.when(delivered, _date("end_recorded_day")).alias("delivery_recorded_date"),
            F.when(delivered, F.col("weeks")).alias("gestational_age_weeks"),
            F.when(delivered, F.col("twins").cast("int") + 1).alias("plurality"),
            F.when(lost, F.col("loss_type")).alias("loss_type"),
            F.when(lost, _date("pregnancy_end_day")).alias("loss_date"),
            F.when(lost, _date("end_recorded_day")).alias("loss_recorded_date"),
        ),
        S.EPISODES,
    )


def outcomes_table(ep: DataFrame, spec: CohortSpec) -> DataFrame:
    """Outcomes of deliveries whose window closed and whose claims were in by the cut-off."""
    coded = ~F.col("missed")
    chronic = F.col("hypertension") & coded
    recorded = {
        "preterm_birth": F.col("preterm_true") & coded,
        "low_birthweight": F.col("lbw_true") & coded,
        "severe_maternal_morbidity": F.col("smm_true") & coded,
        "hypertensive_disorder": (F.col("hdp_true") & coded) | F.col("spurious_hdp"),
        "chronic_hypertension": chronic,
        # a spurious hypertensive code reads as gestational hypertension
        "gestational_hypertension": (F.col("ghtn_true") & coded) | F.col("spurious_hdp"),
        "preeclampsia": F.col("preeclampsia_true") & coded,
        "superimposed_preeclampsia": F.col("preeclampsia_true") & chronic,
        "gestational_diabetes": F.col("gdm_true"),
        "stillbirth": F.col("stillbirth_true") & coded,
        "nicu_admission": (F.col("nicu_true") & coded) | F.col("spurious_nicu"),
    }
    composite = (
        recorded["preterm_birth"]
        | recorded["low_birthweight"]
        | recorded["severe_maternal_morbidity"]
        | recorded["hypertensive_disorder"]
        | recorded["stillbirth"]
        | recorded["nicu_admission"]
    )
    closed = ep.where(~F.col("lost") & (F.col("recorded_day") <= F.lit(spec.end_day)))
    return _conform(
        closed.select(
            "episode_id",
            "member_id",
            _date("pregnancy_end_day").alias("delivery_date"),
            _date("recorded_day").alias("recorded_date"),
            F.col("birthweight").alias("birthweight_grams"),
            *[value.alias(name) for name, value in recorded.items()],
            composite.alias("high_risk"),
        ),
        S.OUTCOMES,
    )


def oracle_table(ep: DataFrame) -> DataFrame:
    label_probability = F.col("true_risk") * (1 - P.FALSE_NEGATIVE) + (1 - F.col("true_risk")) * P.FALSE_POSITIVE
    return _conform(
        ep.select(
            "episode_id",
            "member_id",
            "true_risk",
            label_probability.alias("label_probability"),
            F.col("hypertension").alias("chronic_hypertension"),
            F.col("diabetes").alias("pregestational_diabetes"),
            F.col("bmi_k").alias("bmi"),
            "tobacco_use",
            "depression",
            "opioid_use_disorder",
            "stimulant_use_disorder",
            "homeless",
            F.col("inadequate_care").alias("inadequate_prenatal_care"),
            _null_nan("prenatal_start_week").alias("prenatal_care_start_week"),
            "twins",
            (F.col("parity") == 0).alias("nulliparous"),
            F.col("prior_preterm").alias("prior_preterm_birth"),
            "prior_preeclampsia",
            F.col("age").alias("age_years"),
            "race_ethnicity",
            (F.col("rural") > 0).alias("rural"),
            F.col("prior_enrolled").alias("prior_enrollment"),
            F.col("preeclampsia_true").alias("preeclampsia"),
            F.col("gdm_true").alias("gestational_diabetes"),
            _date("lmp_day").alias("true_lmp_date"),
            _date("pregnancy_end_day").alias("pregnancy_end_date"),
            F.when(F.col("lost"), F.col("loss_type")).otherwise(F.lit("delivery")).alias("pregnancy_end"),
        ),
        S.ORACLE,
    )


def _enrollment_spans(ep: Arrays, rng: Streams) -> pd.DataFrame:
    eid = ep["episode_id"]
    categories = {"adult_expansion": 0.6, "family": 0.3, "disability": 0.1}
    pre_category = rng.choice(categories, "enrollment/category", eid)
    spans: list[tuple] = []
    gap = ep["churn_gap"]
    pre = ep["has_pre_span"]
    spans.append((pre & ~gap, ep["pre_start_day"], ep["lmp_day"] - 1, pre_category))
    spans.append((pre & gap, ep["pre_start_day"], ep["gap_start_day"] - 1, pre_category))
    spans.append((pre & gap, ep["gap_end_day"] + 1, ep["lmp_day"] - 1, pre_category))
    pregnancy_end = np.minimum(ep["postpartum_end_day"], ep["next_lmp_day"] - 1)
    spans.append(
        (
            np.ones(len(eid), bool),
            ep["pregnancy_span_start_day"],
            np.maximum(pregnancy_end, ep["pregnancy_span_start_day"]),
            np.full(len(eid), "pregnancy"),
        )
    )
    frames = []
    for keep, start, end, category in spans:
        keep = keep & (end >= start)
        frames.append(
            pd.DataFrame(
                {
                    "member_id": ep["member_id"][keep],
                    "span_start_day": start[keep],
                    "span_end_day": end[keep],
                    "eligibility_category": category[keep],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _day_name(column: str) -> str:
    """The numpy builders keep a date column as day numbers: encounter_date -> encounter_day."""
    return column.removesuffix("_date") + "_day"


def _event_schema(table: S.Table) -> T.StructType:
    """The table's columns with dates as day numbers, as the numpy builders produce them."""
    fields = []
    for c in table.columns:
        if c.type == "date":
            fields.append(T.StructField(_day_name(c.name), T.LongType()))
        else:
            fields.append(T.StructField(c.name, T._parse_datatype_string(c.type)))
    return T.StructType(fields)


def _from_days(df: DataFrame, table: S.Table) -> DataFrame:
    columns = [_date(_day_name(c.name)).alias(c.name) if c.type == "date" else F.col(c.name) for c in table.columns]
    return _conform(df.select(*columns), table)


def _map_episodes(
    ep: DataFrame, table: S.Table, build: Callable[[Arrays, Streams], pd.DataFrame], spec: CohortSpec
) -> DataFrame:
    schema = _event_schema(table)
    names = schema.fieldNames()

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        rng = Streams(spec.seed)
        for batch in batches:
            out = build(_arrays(batch), rng)
            yield out[names] if len(out) else pd.DataFrame({n: pd.Series(dtype=object) for n in names})

    return _from_days(ep.mapInPandas(run, schema), table)


def dropped_by(drift: CodingDrift) -> Column:
    """Diagnosis lines a coding-practice change leaves uncoded: of the condition's codes
    served from `since`, a fixed share chosen by a hash of the line (the same lines whatever
    the partitioning)."""
    codes = V.CONDITIONS[drift.concept]
    coded = F.lit(False)
    for prefix in codes:
        coded = coded | F.col("icd10_code").startswith(prefix)
    draw = F.abs(F.xxhash64(F.col("claim_line_id"), F.lit(drift.concept))) % 10_000
    return coded & (F.col("service_date") >= F.lit(drift.since)) & (draw >= round(drift.kept * 10_000))


def coding_drift(value: str) -> CodingDrift:
    """`--coding-drift CONCEPT:YYYY-MM[:KEPT]`, e.g. obesity:2026-06 (half coded from June)."""
    parts = value.split(":")
    if len(parts) not in (2, 3) or parts[0] not in V.CONDITIONS:
        raise DataError(
            f"--coding-drift {value}: expected CONDITION:YYYY-MM[:KEPT], CONDITION one of "
            f"{', '.join(sorted(V.CONDITIONS))}"
        )
    year, month = parse_month(parts[1], "coding-drift")
    kept = _optional_number(parts, 2, default=0.5)
    if not 0 <= kept < 1:
        raise DataError(f"--coding-drift {value}: KEPT is the share still coded, from 0 to below 1")
    return CodingDrift(parts[0], date(year, month, 1), kept)


def _optional_number(parts: list[str], index: int, default: float) -> float:
    """parts[index] as a number, `default` when absent, NaN when not a number (NaN fails
    every range check, so the caller's message covers it)."""
    if len(parts) <= index:
        return default
    try:
        return float(parts[index])
    except ValueError:
        return math.nan


def influx_of(value: str) -> Influx:
    """`--influx YYYY-MM[:SHARE]`, e.g. 2026-01:0.5 (half as many members again join from January)."""
    parts = value.split(":")
    if len(parts) not in (1, 2):
        raise DataError(f"--influx {value}: expected YYYY-MM[:SHARE]")
    year, month = parse_month(parts[0], "influx")
    share = _optional_number(parts, 1, default=0.5)
    if not 0 < share <= 10:
        raise DataError(f"--influx {value}: SHARE is newcomers per member of the cohort, above 0 and at most 10")
    return Influx(date(year, month, 1), share)


def describe(spec: CohortSpec) -> str:
    text = (
        f"simulating {spec.members:,} members from {spec.start:%Y-%m} to {spec.end:%Y-%m} "
        f"in {spec.partitions} partitions"
    )
    if spec.coding_drift:
        drift = spec.coding_drift
        text += f"; from {drift.since:%Y-%m} {drift.kept:.0%} of {drift.concept} codes recorded (coding drift)"
    if spec.influx:
        text += (
            f"; from {spec.influx.since:%Y-%m} {spec.all_members - spec.members:,} newcomers join, "
            "pregnant and never enrolled before (influx)"
        )
    return text


def build_tables(ep: DataFrame, spec: CohortSpec, cached: list[DataFrame]) -> dict[str, DataFrame]:
    """Every generated table, as lazy DataFrames over the cached episode frame. Event rows
    received after the cut-off are dropped, except diagnoses, which go to the in-transit
    table (their frame is cached and appended to `cached` for the caller to release)."""
    tables = {
        S.MEMBERS.name: members_table(ep),
        S.ENROLLMENT.name: _map_episodes(ep, S.ENROLLMENT, _enrollment_spans, spec),
        S.EPISODES.name: episodes_table(ep, spec),
        S.OUTCOMES.name: outcomes_table(ep, spec),
        S.ORACLE.name: oracle_table(ep),
    }
    received = F.col("received_date") <= F.lit(spec.end)
    for name, builder in TABLE_BUILDERS.items():
        table = S.GENERATED_TABLES[name]
        events = _map_episodes(
            ep, table, lambda arrays, rng, builder=builder: builder(Timeline(arrays, rng, spec.end_day)), spec
        )
        if table is S.DIAGNOSES:
            if spec.coding_drift:
                events = events.where(~dropped_by(spec.coding_drift))
            events = events.persist(StorageLevel.MEMORY_AND_DISK)
            cached.append(events)
            tables[S.DIAGNOSES_IN_TRANSIT.name] = _conform(events.where(~received), S.DIAGNOSES_IN_TRANSIT)
        tables[name] = events.where(received)
    return tables


def generate(
    spark: SparkSession,
    store: TableStore,
    spec: CohortSpec,
    *,
    overwrite: bool = False,
    progress: Progress = lambda _: None,
) -> dict[str, int]:
    """Generate and write every table; returns row counts. All tables or none are replaced."""
    existing = [name for name in S.GENERATED_TABLES if store.exists(name)]
    if existing and not overwrite:
        raise DataError(
            f"source tables already exist in {store.namespace} ({', '.join(existing)}); "
            "pass --overwrite to replace them"
        )
    progress(describe(spec))
    ep = episode_frame(spark, spec).persist(StorageLevel.MEMORY_AND_DISK)
    cached = [ep]
    try:
        progress(f"{ep.count():,} pregnancy episodes simulated")
        tables = build_tables(ep, spec, cached)
        store.overwrite_many(tables, progress=lambda name: progress(f"writing {name}"))
        return {name: store.read(name).count() for name in tables}
    finally:
        for frame in cached:
            frame.unpersist()
