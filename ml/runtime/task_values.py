"""Values one job task passes to the next ({{tasks.<task>.values.<key>}}).

On Databricks they go through dbutils.jobs.taskValues; locally the runner names a
JSON file in HROB_TASK_VALUES_FILE and reads it back after the task ends.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ml.runtime.platform import on_databricks

ENV_VAR = "HROB_TASK_VALUES_FILE"


def publish(values: dict[str, str | int | float]) -> None:
    if not values:
        return
    if on_databricks():
        from pyspark.dbutils import DBUtils  # only on Databricks clusters

        from ml.runtime.spark import get_spark

        dbutils = DBUtils(get_spark())
        for key, value in values.items():
            dbutils.jobs.taskValues.set(key=key, value=value)
        return
    target = os.environ.get(ENV_VAR)
    if target:
        path = Path(target)
        existing = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**existing, **values}))
