"""The holdout both challenger and champion are scored on: later months than any model
learned from, no row any compared model was recalibrated on.

Landmark rows of censoring-safe labelled episodes whose expected delivery falls in the
recent period of the as-of date (ml/features/training_set.py: the newest
`validation.holdout_months` of months whose outcomes must all be in), of every member
who is not a validation member (whose recent episodes recalibrate a model) under any
split seed the compared models were trained with (the split is a stable hash of the
member and a seed of its own, never the model's). As the as-of date moves, the window
moves with it: each decision is judged on the newest months a model will score next, at
every landmark it will score.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml.config.loader import Settings
from ml.data.store import table_store
from ml.errors import DataError
from ml.features.training_set import SUBGROUPS, Periods, build, landmark_examples, recalibrated_under
from ml.runtime.spark import get_spark


def holdout(
    settings: Settings, as_of: date, features: list[str] | None = None, split_seeds: list[int] | None = None
) -> DataFrame:
    spark = get_spark()
    sources = table_store(spark, settings.environment.source_schema)
    split = settings.project.training.split_config
    seeds = split_seeds or [split.seed]
    chosen = (F.col("split") == "test") & ~recalibrated_under(F.col("member_id"), split, seeds)
    if landmark_examples(settings, sources, as_of).where(chosen).limit(1).count() == 0:
        raise DataError(
            f"the validation holdout is empty: no episode of a member outside the calibration part with its "
            f"expected delivery in "
            f"{Periods.of(settings, as_of).describe()}"
        )
    # Rows are chosen before the features are joined: only their snapshots are read.
    built = build(settings, sources, table_store(spark, settings.namespace), as_of, where=chosen, features=features)
    return built.frame.select("member_id", "episode_id", "landmark", "label", *SUBGROUPS, *built.features)
