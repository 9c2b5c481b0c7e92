"""Reading and checking the source tables before the feature job writes anything.

Two kinds of problem, handled differently (docs/data_and_features.md lists every check):
- a table breaks its contract (a column missing or of the wrong type, a null or
  duplicate key), is empty, or received far fewer rows lately than before (a feed that
  broke): the job stops with one line naming the table and what is wrong, before any
  partition is replaced. No feature can be trusted, and guessing which of two duplicate
  rows is right would hide an upstream fault.
- a row holds a missing, unknown or impossible value (a null in a column declared
  non-null, a member the plan does not know, a lab result outside what a body can have,
  an event before the member's birth): the row is moved to `<table>__rejected` with its
  reason, and the job goes on without it, so one bad record does not stop a plan's daily
  scoring. Rows that belong to a rejected member or episode follow it, with that reason.

The oracle table is not a source: no feature may read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml.config.models import SourceChecks
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

# When a row reached the plan: the volume check counts rows by it. Members and enrollment
# have none (new spans follow new pregnancies, which thin out at the end of a cohort).
ARRIVAL = {
    S.EPISODES.name: "identified_date",
    S.OUTCOMES.name: "recorded_date",
    S.ENCOUNTERS.name: "received_date",
    S.DIAGNOSES.name: "received_date",
    S.PHARMACY_FILLS.name: "received_date",
    S.LAB_RESULTS.name: "received_date",
    S.SDOH_SCREENINGS.name: "received_date",
}
# When the event happened: none may precede the member's birth.
EVENT_DATE = {
    S.ENROLLMENT.name: "span_start",
    S.ENCOUNTERS.name: "encounter_date",
    S.DIAGNOSES.name: "service_date",
    S.PHARMACY_FILLS.name: "fill_date",
    S.LAB_RESULTS.name: "order_date",
    S.SDOH_SCREENINGS.name: "screening_date",
}
BIRTH = "_member_birth_date"  # the member's birth date, beside each row while it is checked
KNOWN = "_member_known"
EPISODE_KNOWN = "_episode_known"
EPISODE_KEPT = "_episode_kept"
MEMBER_REJECTED = "member rejected (see members__rejected)"
EPISODE_REJECTED = "episode rejected (see episodes__rejected)"


@dataclass(frozen=True)
class RowRule:
    """A missing, unknown or impossible value: rows where `violated` holds are rejected
    with `reason`. The first rule a row breaks names it."""

    table: str
    reason: str
    violated: Column


def null_rules(table: S.Table) -> list[RowRule]:
    """A null in a column declared non-null (keys are the contract's: a null key stops)."""
    return [
        RowRule(table.name, f"{c.name} is null (declared non-null)", F.col(c.name).isNull())
        for c in table.columns
        if not c.nullable and c.name not in table.key
    ]


def row_rules(as_of: date, checks: SourceChecks) -> list[RowRule]:
    """Every rule, in the order they are tried. Rules of tables other than members see the
    member's birth date (BIRTH) and whether the member is known (KNOWN)."""
    rules = [rule for table in FEATURE_SOURCES for rule in null_rules(table)]
    rules.append(
        RowRule(S.MEMBERS.name, "birth date after the as-of date (negative age)", F.col("birth_date") > F.lit(as_of))
    )
    for table in FEATURE_SOURCES[1:]:
        rules.append(RowRule(table.name, "member_id not in members", ~F.col(KNOWN)))
        rules.append(RowRule(table.name, MEMBER_REJECTED, F.col(BIRTH).isNull()))
    rules.append(RowRule(S.OUTCOMES.name, "episode_id not in episodes", ~F.col(EPISODE_KNOWN)))
    rules.append(RowRule(S.OUTCOMES.name, EPISODE_REJECTED, F.col(EPISODE_KEPT).isNull()))
    youngest, oldest = checks.pregnancy_age_years
    age = F.months_between(F.col("lmp_date"), F.col(BIRTH)) / 12
    rules += [
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
        RowRule(
            S.EPISODES.name,
            f"pregnancy at an age outside {youngest:g} to {oldest:g} years",
            ~age.between(youngest, oldest),
        ),
    ]
    rules += [
        RowRule(table, "dated before the member's birth", F.col(column) < F.col(BIRTH))
        for table, column in EVENT_DATE.items()
    ]
    for test, limits in checks.lab_ranges.items():
        this_test = F.col("test_code") == F.lit(test)
        rules.append(
            RowRule(
                S.LAB_RESULTS.name,
                f"{test}: unit is not {limits.unit}",
                this_test & (F.col("result_unit") != F.lit(limits.unit)),
            )
        )
        rules.append(
            RowRule(
                S.LAB_RESULTS.name,
                f"{test}: result outside {limits.min:g} to {limits.max:g} {limits.unit}",
                this_test & ~F.col("result_value").between(limits.min, limits.max),
            )
        )
    return rules


@dataclass
class CheckedSources:
    tables: dict[str, DataFrame]
    rejected: dict[str, DataFrame] = field(default_factory=dict)  # <table>__rejected -> rows with a reason
    rejected_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> reason -> rows

    def rejections(self) -> list[tuple[str, str, int]]:
        """(table, reason, rows), for logs and the source_rejections table."""
        return [(t, reason, n) for t, reasons in sorted(self.rejected_counts.items()) for reason, n in reasons.items()]


def check_columns(df: DataFrame, table: S.Table, where: str) -> None:
    """Every declared column present with its declared type (the schema alone: no pass)."""
    name = f"source table {where}.{table.name}"
    actual = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    for column in table.columns:
        if column.name not in actual:
            raise DataError(f"{name}: column {column.name} is missing")
        if actual[column.name] != column.type:
            raise DataError(f"{name}: column {column.name} has type {actual[column.name]}, expected {column.type}")


def load_sources(store: TableStore, as_of: date, checks: SourceChecks) -> CheckedSources:
    return check_sources({t.name: store.require(t.name) for t in FEATURE_SOURCES}, store.namespace, as_of, checks)


def check_sources(frames: dict[str, DataFrame], where: str, as_of: date, checks: SourceChecks) -> CheckedSources:
    """The contract (stop) and the row rules (reject and go on) over the source frames, in
    one pass per table: members first, then every table against the members kept,
    outcomes against the episodes kept."""
    for table in FEATURE_SOURCES:
        check_columns(frames[table.name], table, where)
    tables = {t.name: frames[t.name].select(*t.names) for t in FEATURE_SOURCES}
    rules = row_rules(as_of, checks)
    checked = CheckedSources(dict(tables))
    _check(checked, S.MEMBERS, tables[S.MEMBERS.name], rules, where, as_of, checks)

    known = tables[S.MEMBERS.name].select("member_id", F.lit(True).alias(KNOWN))
    kept = checked.tables[S.MEMBERS.name].select("member_id", F.col("birth_date").alias(BIRTH))
    members = F.broadcast(known.join(kept, "member_id", "left"))
    with_member = {
        t.name: tables[t.name].join(members, "member_id", "left").fillna(False, subset=[KNOWN])
        for t in FEATURE_SOURCES[1:]
    }
    _check(checked, S.EPISODES, with_member[S.EPISODES.name], rules, where, as_of, checks)

    episode_kept = checked.tables[S.EPISODES.name].select("episode_id", F.lit(True).alias(EPISODE_KEPT))
    episodes = F.broadcast(
        tables[S.EPISODES.name]
        .select("episode_id", F.lit(True).alias(EPISODE_KNOWN))
        .join(episode_kept, "episode_id", "left")
    )
    with_member[S.OUTCOMES.name] = (
        with_member[S.OUTCOMES.name].join(episodes, "episode_id", "left").fillna(False, subset=[EPISODE_KNOWN])
    )
    for table in FEATURE_SOURCES[1:]:
        if table.name != S.EPISODES.name:
            _check(checked, table, with_member[table.name], rules, where, as_of, checks)
    return checked


def _check(
    checked: CheckedSources,
    table: S.Table,
    df: DataFrame,
    rules: list[RowRule],
    where: str,
    as_of: date,
    checks: SourceChecks,
) -> None:
    """One pass: the contract's counts (null and duplicate keys, rows, recent volume) and
    the rows each rule rejects. Stops on a broken contract; otherwise keeps the rows that
    break no rule and moves the others, with the first rule's reason, to `<table>__rejected`."""
    mine = [r for r in rules if r.table == table.name]
    reason = F.coalesce(*[F.when(F.coalesce(r.violated, F.lit(False)), F.lit(r.reason)) for r in mine])
    flagged = df.select(*table.names, reason.alias("_reason"))

    key = list(table.key)
    arrival = ARRIVAL.get(table.name)
    recent_from = as_of - timedelta(days=checks.recent_days)
    baseline_from = recent_from - timedelta(days=checks.baseline_days)
    volume = []
    if arrival:
        day = F.col(arrival)
        volume = [
            F.sum(((day > F.lit(recent_from)) & (day <= F.lit(as_of))).cast("int")).alias("recent"),
            F.sum(((day > F.lit(baseline_from)) & (day <= F.lit(recent_from))).cast("int")).alias("baseline"),
        ]
    counts = flagged.agg(
        *[F.sum(F.col(k).isNull().cast("int")).alias(f"null_{k}") for k in key],
        F.count("*").alias("rows"),
        F.countDistinct(*[F.col(k) for k in key]).alias("distinct"),
        *volume,
        *[F.sum((F.col("_reason") == F.lit(r.reason)).cast("int")).alias(f"rule_{i}") for i, r in enumerate(mine)],
    ).first()

    name = f"source table {where}.{table.name}"
    if counts["rows"] == 0:
        raise DataError(f"{name} is empty: no partition was replaced (is the feed that loads it broken?)")
    for k in key:
        if counts[f"null_{k}"]:
            raise DataError(f"{name}: column {k}: {counts[f'null_{k}']:,} rows with a null key")
    nulls_in_key = sum(counts[f"null_{k}"] or 0 for k in key)
    duplicates = counts["rows"] - nulls_in_key - counts["distinct"]
    if duplicates:
        raise DataError(f"{name}: key ({', '.join(key)}): {duplicates:,} duplicate rows")
    if arrival and (counts["baseline"] or 0) >= checks.min_baseline_rows:
        expected = counts["baseline"] * checks.recent_days / checks.baseline_days
        share = (counts["recent"] or 0) / expected
        if share < checks.min_recent_share:
            raise DataError(
                f"{name}: {counts['recent'] or 0:,} rows by {arrival} in the {checks.recent_days} days to {as_of}, "
                f"{share:.0%} of the {expected:,.0f} its previous {checks.baseline_days} days give "
                f"(minimum {checks.min_recent_share:.0%}): no partition was replaced"
            )

    checked.tables[table.name] = flagged.where(F.col("_reason").isNull()).drop("_reason")
    rejected = {r.reason: counts[f"rule_{i}"] for i, r in enumerate(mine) if counts[f"rule_{i}"]}
    if rejected:
        checked.rejected_counts[table.name] = rejected
        checked.rejected[f"{table.name}__rejected"] = flagged.where(F.col("_reason").isNotNull()).select(
            *table.names, F.col("_reason").alias("rejected_reason"), F.lit(as_of).alias("rejected_for_as_of")
        )
