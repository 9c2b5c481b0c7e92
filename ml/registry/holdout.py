"""The recent labelled holdout both challenger and champion are scored on.

Test-split landmark rows (never trained on by either model, the split being a stable hash
of the member) of episodes labelled before the as-of date, whose landmark dates fall in
the last `holdout_months` of labelled data: recent, so a model is judged on the
population it will score next, at every landmark it will score.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml.config.loader import Settings
from ml.data.store import table_store
from ml.errors import DataError
from ml.features.training_set import SUBGROUPS, build, landmark_examples
from ml.runtime.spark import get_spark


def holdout(settings: Settings, as_of: date, features: list[str] | None = None) -> DataFrame:
    spark = get_spark()
    sources = table_store(spark, settings.environment.source_schema)
    test = landmark_examples(settings, sources, as_of).where(F.col("split") == "test")
    newest = test.agg(F.max("landmark_date")).first()[0]
    if newest is None:
        raise DataError(f"the validation holdout is empty: no test-split episode labelled before {as_of}")
    start = F.add_months(F.lit(newest), -settings.project.validation.holdout_months)
    # Rows are chosen before the features are joined: only their snapshots are read.
    recent = (F.col("split") == "test") & (F.col("landmark_date") > start)
    chosen = build(settings, sources, table_store(spark, settings.namespace), as_of, where=recent, features=features)
    return chosen.frame.select("episode_id", "landmark", "label", *SUBGROUPS, *chosen.features)
