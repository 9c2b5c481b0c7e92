"""Computing every feature for a spine of (member_id, as_of) rows, in native Spark.

Each event source is joined to the spine on the member, restricted to events dated
strictly before the as-of date and within the longest look-back window, and received
by the plan strictly before the as-of date too (a claim is usable only once it arrived),
tagged with
the concept(s) it stands for, aggregated per member, date and concept, and pivoted to
one column per feature. Counts over a window in which the member was not enrolled at
all are missing, not zero: nothing could have been seen.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml.data import value_sets as V
from ml.features.definitions import Feature, catalogue
from ml.runtime.spark import wide_rows

KEYS = ["member_id", "as_of"]


def window_days(months: int) -> int:
    return round(months * 30.4375)


def _by_source(features: list[Feature], source: str) -> list[Feature]:
    return [f for f in features if f.source == source]


# ---------------------------------------------------------------- events, long then wide


def _icd10_chapter(code: Column) -> Column:
    """Chapter of an ICD-10-CM code by its first three characters."""
    head = F.substring(code, 1, 3)
    expr = None
    for name, low, high in V.ICD10_CHAPTERS:
        test = head.between(low, high)
        expr = F.when(test, F.lit(name)) if expr is None else expr.when(test, F.lit(name))
    return expr


def _starts(code: Column, prefixes: tuple[str, ...]) -> Column:
    test = None
    for prefix in prefixes:
        part = code.startswith(prefix)
        test = part if test is None else test | part
    return test


def _diagnosis_concepts(code: Column) -> Column:
    """Every concept a diagnosis code belongs to: its chapter, and any condition,
    obstetric-history, complication or Z-code value set whose prefix it starts with."""
    tags = [_icd10_chapter(code)]
    for kind, value_set in (
        ("condition", V.CONDITIONS),
        ("ob_history", V.OBSTETRIC_HISTORY),
        ("complication", V.PREGNANCY_COMPLICATIONS),
        ("zcode", V.SDOH_ZCODES),
    ):
        for name, prefixes in value_set.items():
            tags.append(F.when(_starts(code, prefixes), F.lit(f"{kind}:{name}")))
    all_zcodes = tuple(p for codes in V.SDOH_ZCODES.values() for p in codes)
    tags.append(F.when(_starts(code, all_zcodes), F.lit("zcode:any")))
    return F.filter(F.array(*tags), lambda tag: tag.isNotNull())


def _events(spine: DataFrame, events: DataFrame, date_column: str, lookback_days: int) -> DataFrame:
    joined = spine.join(events, "member_id")
    days = F.datediff(F.col("as_of"), F.col(date_column))
    arrived = F.col("received_date") < F.col("as_of")
    return joined.where((days >= 1) & (days <= lookback_days) & arrived).withColumn("_days", days)


def _metric(f: Feature) -> str:
    """The per-concept aggregate a feature reads, named by its kind and window."""
    return f"{f.kind}_{f.window}m" if f.window else f.kind


def _pivot(events: DataFrame, features: list[Feature], extra: dict | None = None) -> DataFrame:
    """Aggregate long events (one row per event and concept, in `_concept`) per member,
    as-of date and concept, then pivot to one column per feature.

    Each event row is visited once per concept it belongs to, not once per feature as
    conditional aggregation would: with hundreds of features per source that is the
    difference between seconds and minutes (measured: diagnoses 30 s -> see docs/data_and_features.md).
    """
    metrics: dict[str, Column] = {}
    for f in features:
        name = _metric(f)
        if name in metrics:
            continue
        in_window = F.col("_days") <= window_days(f.window) if f.window else None
        if f.kind == "count":
            metrics[name] = F.sum(in_window.cast("int"))
        elif f.kind == "recency":
            metrics[name] = F.min("_days")
        elif f.window:
            metrics[name] = extra[f.kind](in_window)
        else:
            metrics[name] = extra[f.kind]
    per_concept = events.groupBy(*KEYS, "_concept").agg(*[expr.alias(n) for n, expr in metrics.items()])
    concepts = sorted({f.concept for f in features})
    wide = per_concept.groupBy(*KEYS).pivot("_concept", concepts).agg(*[F.first(n).alias(n) for n in metrics])
    return wide.select(*KEYS, *[F.col(f"`{f.concept}_{_metric(f)}`").alias(f.name) for f in features])


def diagnosis_features(spine: DataFrame, diagnoses: DataFrame, features: list[Feature], lookback: int) -> DataFrame:
    # Tag each distinct code once (a few thousand of them), then join the tags to the events.
    tags = (
        diagnoses.select("icd10_code")
        .distinct()
        .select("icd10_code", F.explode(_diagnosis_concepts(F.col("icd10_code"))).alias("_concept"))
    )
    events = _events(spine, diagnoses, "service_date", lookback).join(F.broadcast(tags), "icd10_code")
    return _pivot(events, features)


def encounter_features(spine: DataFrame, encounters: DataFrame, features: list[Feature], lookback: int) -> DataFrame:
    events = _events(spine, encounters, "encounter_date", lookback)
    stays = {"stay_days": lambda w: F.sum(F.when(w, F.col("length_of_stay_days")).otherwise(0))}
    wide = _pivot(events.withColumn("_concept", F.col("encounter_type")), features, stays)
    prenatal_now = (
        (F.col("encounter_type") == "prenatal")
        & F.col("current_lmp").isNotNull()
        & (F.col("encounter_date") >= F.col("current_lmp"))
    )
    visits = events.groupBy(*KEYS).agg(
        F.sum(prenatal_now.cast("int")).alias("_prenatal_visits"),
        F.min(F.when(prenatal_now, F.col("encounter_date"))).alias("_first_prenatal"),
    )
    return wide.join(visits, KEYS, "full")


def pharmacy_features(spine: DataFrame, fills: DataFrame, features: list[Feature], lookback: int) -> DataFrame:
    events = _events(spine, fills, "fill_date", lookback).withColumn("_concept", F.col("drug_class"))
    return _pivot(events, features, {"supply": lambda w: F.sum(F.when(w, F.col("days_supply")).otherwise(0))})


def lab_features(spine: DataFrame, labs: DataFrame, features: list[Feature], lookback: int) -> DataFrame:
    events = _events(spine, labs, "order_date", lookback).withColumn("_concept", F.col("test_code"))
    value = F.col("result_value")
    latest = F.when(value.isNotNull(), F.struct(F.col("order_date"), F.col("lab_id")))  # ties broken by id
    extra = {"last_value": F.max_by(value, latest), "max_value": lambda w: F.max(F.when(w, value))}
    wide = _pivot(events, [f for f in features if f.kind != "last_abnormal"], extra)
    abnormal = []
    for f in features:
        if f.kind == "last_abnormal":
            _, direction, threshold = V.LAB_TESTS[f.concept]
            last = F.col(f"labs__{f.concept}__last_value")
            flag = last >= threshold if direction == ">=" else last < threshold
            abnormal.append(F.when(last.isNotNull(), flag.cast("double")).alias(f.name))
    return wide.select("*", *abnormal)


def screening_features(spine: DataFrame, screenings: DataFrame, features: list[Feature], lookback: int) -> DataFrame:
    """Answers at the member's last screening before the as-of date."""
    events = _events(spine, screenings, "screening_date", lookback)
    latest = F.struct(F.col("screening_date"), F.col("screening_id"))
    aggregates = []
    for f in features:
        if f.kind in ("answer_yes", "answer_declined"):
            answer = "yes" if f.kind == "answer_yes" else "declined"
            aggregates.append(
                F.max_by(
                    (F.col("answer") == answer).cast("double"), F.when(F.col("domain") == f.concept, latest)
                ).alias(f.name)
            )
        elif f.kind == "recency":
            aggregates.append(F.min(F.col("_days")).alias(f.name))
    agg = events.groupBy(*KEYS).agg(*aggregates)
    total = sum((F.coalesce(F.col(f.name), F.lit(0.0)) for f in features if f.kind == "answer_yes"), F.lit(0.0))
    needs = next(f.name for f in features if f.kind == "needs")
    return agg.withColumn(needs, F.when(F.col("sdoh_screening__days_since_last").isNotNull(), total))


# ---------------------------------------------------------------- member-level sources


def member_features(spine: DataFrame, members: DataFrame, features: list[Feature]) -> DataFrame:
    df = spine.join(members, "member_id", "left")
    age = F.months_between(F.col("as_of"), F.col("birth_date")) / 12.0
    adi = F.col("area_deprivation_index").cast("double")
    values: dict[str, Column] = {}
    for f in features:
        values[f.name] = {
            "age": F.round(age, 2),
            "age_under_18": (age < 18).cast("double"),
            "age_18_19": ((age >= 18) & (age < 20)).cast("double"),
            "age_35_plus": (age >= 35).cast("double"),
            "age_40_plus": (age >= 40).cast("double"),
            "race": (F.col("race_ethnicity") == f.concept).cast("double"),
            "language": (F.col("primary_language") == f.concept).cast("double"),
            "rural": (F.col("rurality") == "rural").cast("double"),
            "adi": adi,
            "adi_top": F.when(adi.isNotNull(), (adi >= 80).cast("double")),
            "svi": F.col("social_vulnerability_index"),
        }[f.kind]
    return df.select(*KEYS, *[v.alias(k) for k, v in values.items()])


def enrollment_features(
    spine: DataFrame, enrollment: DataFrame, features: list[Feature], windows: list[int]
) -> DataFrame:
    """Enrollment features, plus `_enrolled_<w>m` days used to mask counts."""
    joined = spine.join(enrollment, "member_id").where(F.col("span_start") < F.col("as_of"))
    span_end = F.least(F.date_add("span_end", 1), F.col("as_of"))  # exclusive, never past the as-of date

    def overlap(days: int) -> Column:
        start = F.greatest(F.col("span_start"), F.date_sub("as_of", days))
        return F.greatest(F.datediff(span_end, start), F.lit(0))

    current = (F.col("span_start") <= F.date_sub("as_of", 1)) & (F.col("span_end") >= F.date_sub("as_of", 1))
    before_pregnancy = F.col("current_lmp").isNotNull() & (F.col("span_start") < F.col("current_lmp"))
    aggregates = [F.sum(overlap(window_days(w))).alias(f"_enrolled_{w}m") for w in windows]
    aggregates += [
        F.sum((overlap(window_days(24)) > 0).cast("int")).alias("_spans_24m"),
        F.max(current.cast("double")).alias("_enrolled_now"),
        F.max(F.when(current, F.datediff(F.col("as_of"), F.col("span_start")))).alias("_current_span_days"),
        F.max_by(F.col("eligibility_category"), F.when(current, F.col("span_start"))).alias("_category"),
        F.max(before_pregnancy.cast("double")).alias("_enrolled_before"),
    ]
    df = spine.join(joined.groupBy(*KEYS).agg(*aggregates), KEYS, "left")
    values = {}
    for f in features:
        values[f.name] = {
            "enrolled_days": F.coalesce(F.col(f"_enrolled_{f.window}m"), F.lit(0)),
            "spans": F.coalesce(F.col("_spans_24m"), F.lit(0)),
            "enrolled_now": F.coalesce(F.col("_enrolled_now"), F.lit(0.0)),
            "current_span_days": F.col("_current_span_days"),
            "category": (F.col("_category") == f.concept).cast("double"),
        }[f.kind]
    masks = [F.coalesce(F.col(f"_enrolled_{w}m"), F.lit(0)).alias(f"_enrolled_{w}m") for w in windows]
    enrolled_before = F.when(F.col("current_lmp").isNotNull(), F.coalesce(F.col("_enrolled_before"), F.lit(0.0)))
    return df.select(
        *KEYS,
        *[v.cast("double").alias(k) for k, v in values.items()],
        *masks,
        enrolled_before.alias("_enrolled_before"),
    )


def pregnancy_features(
    spine: DataFrame, episodes: DataFrame, outcomes: DataFrame, features: list[Feature]
) -> DataFrame:
    """Prior pregnancies (deliveries whose claim arrived, outcomes recorded, before the
    as-of date) and the current one."""
    prior = spine.join(
        episodes.select("member_id", "episode_id", "delivery_date", "delivery_recorded_date"), "member_id"
    ).where(F.col("delivery_recorded_date") < F.col("as_of"))
    prior = prior.join(outcomes.drop("member_id", "delivery_date"), "episode_id", "left")
    known = F.col("recorded_date") < F.col("as_of")
    aggregates = [F.count("*").alias("_prior_count"), F.max("delivery_date").alias("_last_delivery")]
    for f in features:
        if f.kind == "prior_outcome":
            aggregates.append(F.max(F.when(known, F.col(f.concept).cast("double")).otherwise(0.0)).alias(f.name))
    df = spine.join(prior.groupBy(*KEYS).agg(*aggregates), KEYS, "left")
    months = F.months_between(F.col("as_of"), F.col("_last_delivery"))
    values = {}
    for f in features:
        values[f.name] = {
            "prior_count": F.coalesce(F.col("_prior_count"), F.lit(0)).cast("double"),
            "prior_outcome": F.col(f.name),
            "months_since_delivery": F.round(months, 1),
            "short_interval": F.when(months.isNotNull(), (months < 18).cast("double")),
            "gestational_weeks": F.when(
                F.col("current_lmp").isNotNull(), F.datediff(F.col("as_of"), F.col("current_lmp")) / 7.0
            ),
        }.get(f.kind)
    return df.select(*KEYS, *[v.alias(k) for k, v in values.items() if v is not None])


def with_current_pregnancy(spine: DataFrame, episodes: DataFrame) -> DataFrame:
    """The LMP of the pregnancy under way on the as-of date as the plan saw it: identified
    before that day, its end (a delivery or a loss) not yet known."""
    from ml.features.landmarks import END_COLUMNS
    from ml.features.spine import is_open

    current = spine.join(episodes.select("member_id", "lmp_date", "identified_date", *END_COLUMNS), "member_id").where(
        is_open(F.col("as_of"))
    )
    return spine.join(current.groupBy(*KEYS).agg(F.max("lmp_date").alias("current_lmp")), KEYS, "left")


# ---------------------------------------------------------------- all together


def compute_features(tables: dict[str, DataFrame], spine: DataFrame, windows: list[int]) -> DataFrame:
    """Every catalogued feature for every spine row, in catalogue order.

    Returns a cached, materialised DataFrame: unpersist it when done.
    """
    features = catalogue(windows)
    lookback = window_days(max(windows))
    partitions = spine.sparkSession.conf.get("spark.sql.shuffle.partitions")

    def co_partitioned(df: DataFrame) -> DataFrame:
        # Every part hash-partitioned alike on the keys: the joins below need no shuffle
        # of wide rows (measured: 38 s of shuffling for 31,000 snapshots without it).
        part = df.repartition(int(partitions), *KEYS).cache()
        part.count()
        return part

    spine = co_partitioned(with_current_pregnancy(spine.select(*KEYS).distinct(), tables["episodes"]))
    parts = [
        member_features(spine, tables["members"], _by_source(features, "members")),
        enrollment_features(spine, tables["enrollment"], _by_source(features, "enrollment"), windows),
        diagnosis_features(spine, tables["diagnoses"], _by_source(features, "diagnoses"), lookback),
        encounter_features(spine, tables["encounters"], _by_source(features, "encounters"), lookback),
        pharmacy_features(spine, tables["pharmacy_fills"], _by_source(features, "pharmacy_fills"), lookback),
        lab_features(spine, tables["lab_results"], _by_source(features, "lab_results"), lookback),
        screening_features(spine, tables["sdoh_screenings"], _by_source(features, "sdoh_screenings"), lookback),
        pregnancy_features(spine, tables["episodes"], tables["outcomes"], _by_source(features, "episodes")),
    ]
    # Each part is materialised before the final join: joined lazily, the combined plan
    # re-evaluated shared inputs per branch (measured: 81 s against 28 s in parts).
    cached = [spine]
    df = spine
    for part in parts:
        part = co_partitioned(part)
        cached.append(part)
        df = df.join(part, KEYS, "left")

    current = F.col("current_lmp").isNotNull()
    first = F.col("_first_prenatal")
    derived: dict[str, Column] = {
        "current_pregnancy__prenatal_visits": F.when(current, F.coalesce(F.col("_prenatal_visits"), F.lit(0))),
        "current_pregnancy__weeks_to_first_prenatal_visit": F.datediff(first, F.col("current_lmp")) / 7.0,
        "current_pregnancy__no_prenatal_visit_yet": F.when(current, first.isNull().cast("double")),
        "current_pregnancy__enrolled_before_pregnancy": F.col("_enrolled_before"),
    }
    columns = []
    for f in features:
        if f.name in derived:
            value = derived[f.name]
        elif f.kind in ("count", "stay_days", "supply") and f.window:
            # no event seen: zero if enrolled at some time in the window, missing if never
            value = F.when(F.col(f"_enrolled_{f.window}m") > 0, F.coalesce(F.col(f.name), F.lit(0)))
        else:
            value = F.col(f.name)
        columns.append(value.cast("double").alias(f.name))
    result = df.select(F.col("member_id"), F.col("as_of"), *columns).cache()
    with wide_rows(spine.sparkSession):
        result.count()
    for part in cached:
        part.unpersist()
    return result
