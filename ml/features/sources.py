"""Reading and checking the source tables before the feature job writes anything.

Two kinds of problem, handled differently (documented in the README):
- the table breaks its contract (a column missing or of the wrong type, a null or
  duplicate key): the job stops with one line naming the table, the column and the
  number of offending rows. No feature can be trusted, and guessing which of two
  duplicate rows is right would hide an upstream fault.
- a row holds an impossible value (a birth date after the as-of date, a pregnancy
  identified before it began, a gestational age outside 16-45 weeks): the row is moved to
  `<table>__rejected` with the reason, and the job goes on without it, so one bad
  record does not stop a plan's daily scoring.

The oracle table is not a source: no feature may read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml.data import schema as S
from ml.data.store import TableStore
from ml.errors import DataError

FEATURE_SOURCES = (
    S.MEMBERS,
    S.ENROLLMENT,
    S.EPISODES,
    S.OUTCOMES,
    S.ENCOUNTERS,
    S.DIAGNOSES,
    S.PHARMACY_FILLS,
    S.LAB_RESULTS,
    S.SDOH_SCREENINGS,
)
assert not set(S.GENERATOR_ONLY) & set(FEATURE_SOURCES)


@dataclass(frozen=True)
class RowRule:
    """An impossible value: rows where `violated` holds are rejected with `reason`."""

    table: str
    reason: str
    violated: Column


def row_rules(as_of: date) -> list[RowRule]:
    return [
        RowRule(S.MEMBERS.name, "birth date after the as-of date (negative age)", F.col("birth_date") > F.lit(as_of)),
        RowRule(
            S.EPISODES.name,
            "identified before the last menstrual period",
            F.col("identified_date") < F.col("lmp_date"),
        ),
        RowRule(
            S.EPISODES.name, "delivery before the last menstrual period", F.col("delivery_date") < F.col("lmp_date")
        ),
        RowRule(
            S.EPISODES.name, "gestational age outside 16 to 45 weeks", ~F.col("gestational_age_weeks").between(16, 45)
        ),
    ]


@dataclass
class CheckedSources:
    tables: dict[str, DataFrame]
    rejected: dict[str, DataFrame] = field(default_factory=dict)  # <table>__rejected -> rows with a reason
    rejected_counts: dict[str, int] = field(default_factory=dict)


def check_contract(df: DataFrame, table: S.Table, where: str) -> None:
    """Columns present with their declared types, keys neither null nor duplicated."""
    actual = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    for column in table.columns:
        if column.name not in actual:
            raise DataError(f"source table {where}.{table.name}: column {column.name} is missing")
        if actual[column.name] != column.type:
            raise DataError(
                f"source table {where}.{table.name}: column {column.name} has type "
                f"{actual[column.name]}, expected {column.type}"
            )
    key = list(table.key)
    counts = df.agg(
        *[F.sum(F.col(k).isNull().cast("int")).alias(f"null_{k}") for k in key],
        F.count("*").alias("rows"),
        F.countDistinct(*[F.col(k) for k in key]).alias("distinct"),
    ).first()
    for k in key:
        if counts[f"null_{k}"]:
            raise DataError(
                f"source table {where}.{table.name}: column {k}: {counts[f'null_{k}']:,} rows with a null key"
            )
    nulls_in_key = sum(counts[f"null_{k}"] or 0 for k in key)
    duplicates = counts["rows"] - nulls_in_key - counts["distinct"]
    if duplicates:
        raise DataError(f"source table {where}.{table.name}: key ({', '.join(key)}): {duplicates:,} duplicate rows")


def load_sources(store: TableStore, as_of: date) -> CheckedSources:
    return check_sources({t.name: store.require(t.name) for t in FEATURE_SOURCES}, store.namespace, as_of)


def check_sources(frames: dict[str, DataFrame], where: str, as_of: date) -> CheckedSources:
    """Contract checks (stop) then row rules (reject and go on) over the source frames."""
    tables = {}
    for table in FEATURE_SOURCES:
        df = frames[table.name]
        check_contract(df, table, where)
        tables[table.name] = df.select(*table.names)

    checked = CheckedSources(tables)
    for name in {rule.table for rule in row_rules(as_of)}:
        rules = [r for r in row_rules(as_of) if r.table == name]
        df = tables[name]
        reason = F.coalesce(*[F.when(F.coalesce(r.violated, F.lit(False)), F.lit(r.reason)) for r in rules])
        flagged = df.withColumn("_reason", reason)
        bad = flagged.where(F.col("_reason").isNotNull())
        count = bad.count()
        checked.tables[name] = flagged.where(F.col("_reason").isNull()).drop("_reason")
        if count:
            checked.rejected[f"{name}__rejected"] = bad.withColumnRenamed("_reason", "rejected_reason").withColumn(
                "rejected_for_as_of", F.lit(as_of)
            )
            checked.rejected_counts[name] = count

    # an episode whose member was rejected has no trustworthy age: drop it as well
    if S.MEMBERS.name in checked.rejected_counts:
        members = checked.tables[S.MEMBERS.name].select("member_id")
        for name in (S.EPISODES.name, S.OUTCOMES.name):
            checked.tables[name] = checked.tables[name].join(members, "member_id", "left_semi")
    if S.EPISODES.name in checked.rejected_counts:
        checked.tables[S.OUTCOMES.name] = checked.tables[S.OUTCOMES.name].join(
            checked.tables[S.EPISODES.name].select("episode_id"), "episode_id", "left_semi"
        )
    return checked
