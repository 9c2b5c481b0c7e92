"""Whether a crossed threshold starts the training job, and the drifts people acknowledged.

A retrain pays only when there is something new to learn from and the last one has
settled: at least `monitoring.retrain.min_new_labels` censoring-safe labelled pregnancies
the champion could not learn from (not yet labelled as of its own as-of date), and at least
`cooldown_days` since the newest training run's as-of date. Without them an influx of new
members, say, would start a training run every day that learns nothing new, and the gate
would keep the champion as a tie each time.

A drift can be acknowledged (`hrob monitor acknowledge`): recorded with who, when, why and
until when, for the champion it was seen under, it stops counting towards a retrain while
it holds. A new champion starts with a clean slate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ml.config.models import RetrainSettings
from ml.data import outputs
from ml.data.store import TableStore
from ml.errors import DataError

ACKNOWLEDGEMENT_SCHEMA = T.StructType(
    [
        T.StructField("model_version", T.StringType(), False),
        T.StructField("check", T.StringType(), False),
        T.StructField("slice", T.StringType(), True),  # null: every slice of the check
        T.StructField("acknowledged_by", T.StringType(), False),
        T.StructField("acknowledged_at", T.TimestampType(), False),
        T.StructField("reason", T.StringType(), False),
        T.StructField("until", T.DateType(), True),  # null: while this champion serves
    ]
)


@dataclass(frozen=True)
class Acknowledgement:
    check: str
    slice: str | None
    until: date | None

    def covers(self, check: str, slice_: str, day: date) -> bool:
        return self.check == check and self.slice in (None, slice_) and (self.until is None or day <= self.until)


@dataclass(frozen=True)
class RetrainDecision:
    start: bool
    crossed: list[str]  # "check (slice)" of every crossed threshold
    acknowledged: list[str]
    new_labels: int
    days_since_training: int | None
    detail: str


def decide(
    crossed: list[tuple[str, str]],
    acknowledgements: list[Acknowledgement],
    new_labels: int,
    days_since_training: int | None,
    config: RetrainSettings,
    day: date,
) -> RetrainDecision:
    """`crossed`: (check, slice) of every judged threshold crossed on `day`."""
    names = [f"{check} ({slice_})" for check, slice_ in crossed]
    held = [f"{c} ({s})" for c, s in crossed if any(a.covers(c, s, day) for a in acknowledgements)]
    active = [n for n in names if n not in held]
    reasons = []
    if not names:
        reasons.append("no threshold crossed")
    elif not active:
        reasons.append(f"every crossed threshold acknowledged ({', '.join(held)})")
    else:
        reasons.append(f"crossed: {', '.join(active)}")
        if held:
            reasons.append(f"acknowledged: {', '.join(held)}")
    labels_ok = new_labels >= config.min_new_labels
    cooled = days_since_training is None or days_since_training >= config.cooldown_days
    reasons.append(
        f"{new_labels:,} new censoring-safe labelled pregnancies since the champion's as-of date "
        f"(needs {config.min_new_labels:,})"
    )
    if days_since_training is not None:
        reasons.append(f"{days_since_training} days since the newest training run (cool-down {config.cooldown_days})")
    start = bool(active) and labels_ok and cooled
    verdict = "retraining" if start else "not retraining"
    return RetrainDecision(start, names, held, new_labels, days_since_training, f"{verdict}: {'; '.join(reasons)}")


def acknowledgements(store: TableStore, model_version: str) -> list[Acknowledgement]:
    if not store.exists(outputs.ACKNOWLEDGEMENTS):
        return []
    rows = store.read(outputs.ACKNOWLEDGEMENTS).where(F.col("model_version") == model_version).collect()
    return [Acknowledgement(r.check, r.slice, r.until) for r in rows]


def acknowledge(
    spark: SparkSession,
    store: TableStore,
    model_version: str,
    check: str,
    slice_: str | None,
    by: str,
    reason: str,
    until: date | None,
    known_checks: tuple[str, ...],
) -> dict[str, str | None]:
    """Record that `check` (in `slice_`, or every slice) of `model_version` was looked at:
    it stops counting towards a retrain until `until` (or while that champion serves)."""
    reason = " ".join(reason.split())
    if not reason:
        raise DataError("an acknowledgement needs a reason (--reason)")
    if check not in known_checks:
        raise DataError(f"--check {check}: not a monitored check (one of {', '.join(known_checks)})")
    row = (model_version, check, slice_, by, datetime.now(UTC).replace(tzinfo=None), reason, until)
    added = spark.createDataFrame([row], ACKNOWLEDGEMENT_SCHEMA)
    table: DataFrame = added
    if store.exists(outputs.ACKNOWLEDGEMENTS):
        table = store.read(outputs.ACKNOWLEDGEMENTS).unionByName(added).localCheckpoint()
    store.overwrite(table, outputs.ACKNOWLEDGEMENTS)
    return {
        "model_version": model_version,
        "check": check,
        "slice": slice_,
        "acknowledged_by": by,
        "until": until.isoformat() if until else None,
    }
