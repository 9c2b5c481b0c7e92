"""The recent labelled holdout both challenger and champion are scored on.

Landmark rows of members in the test part under every split seed the compared models
were trained with (so neither model trained on them; the split is a stable hash of the
member and a seed of its own, never the model's), of episodes labelled before the as-of
date, whose landmark dates fall in the last `holdout_months` of labelled data: recent,
so a model is judged on the population it will score next, at every landmark it will
score.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml.config.loader import Settings
from ml.data.store import table_store
from ml.errors import DataError
from ml.features.training_set import SUBGROUPS, build, in_test_under, landmark_examples
from ml.runtime.spark import get_spark


def holdout(
    settings: Settings, as_of: date, features: list[str] | None = None, split_seeds: list[int] | None = None
) -> DataFrame:
    spark = get_spark()
    sources = table_store(spark, settings.environment.source_schema)
    split = settings.project.training.split_config
    in_test = in_test_under(F.col("member_id"), split, split_seeds or [split.seed])
    test = landmark_examples(settings, sources, as_of).where(in_test)
    newest = test.agg(F.max("landmark_date")).first()[0]
    if newest is None:
        raise DataError(f"the validation holdout is empty: no test-split episode labelled before {as_of}")
    start = F.add_months(F.lit(newest), -settings.project.validation.holdout_months)
    # Rows are chosen before the features are joined: only their snapshots are read.
    recent = in_test & (F.col("landmark_date") > start)
    chosen = build(settings, sources, table_store(spark, settings.namespace), as_of, where=recent, features=features)
    return chosen.frame.select("member_id", "episode_id", "landmark", "label", *SUBGROUPS, *chosen.features)
