"""The recent labelled holdout both challenger and champion are scored on.

Test-split episodes (never trained on by either model, the split being a stable hash
of the member) whose index dates fall in the last `holdout_months` of labelled data:
recent, so a model is judged on the population it will score next.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml.config.loader import Settings
from ml.data.store import table_store
from ml.errors import DataError
from ml.features.training_set import SUBGROUPS, build, labelled_episodes, split_of
from ml.runtime.spark import get_spark


def holdout(settings: Settings) -> DataFrame:
    spark = get_spark()
    sources = table_store(spark, settings.environment.source_schema)
    training = settings.project.training
    test = labelled_episodes(sources, settings.project.model.label).where(
        split_of(F.col("member_id"), training.seed, training.split_config) == "test"
    )
    newest = test.agg(F.max("index_date")).first()[0]
    if newest is None:
        raise DataError("the validation holdout is empty: no labelled test-split episode")
    start = F.add_months(F.lit(newest), -settings.project.validation.holdout_months)
    # Episodes are chosen before the features are joined: only their snapshots are read.
    recent = (F.col("split") == "test") & (F.col("index_date") > start)
    chosen = build(settings, sources, table_store(spark, settings.namespace), where=recent)
    return chosen.frame.select("episode_id", "label", *SUBGROUPS, *chosen.features)
