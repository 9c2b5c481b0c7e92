"""The Spark session: the active one on Databricks, a quiet local one elsewhere.

Local settings (overridable through the environment, for tests and benchmarks):
HROB_SPARK_MASTER (default local[*]), HROB_SPARK_DRIVER_MEMORY (default 6g),
HROB_SPARK_SHUFFLE_PARTITIONS (default 8), HROB_WORKER_PYTHON (the interpreter Spark's
Python workers run; default: the running one).

Either way the `ml` package is shipped to the Python workers from the driver's checkout
(ml/runtime/shipping.py): workers never import it from their own path.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ml.runtime.paths import local_dir
from ml.runtime.platform import on_databricks

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_LOG4J = Path(__file__).with_name("log4j2.properties")


def _local_builder(app_name: str):
    from pyspark.sql import SparkSession

    # Workers run this interpreter (or HROB_WORKER_PYTHON), not whatever python3 is first on PATH.
    os.environ["PYSPARK_PYTHON"] = os.environ.get("HROB_WORKER_PYTHON") or sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    scratch = local_dir("tmp", "spark")
    java_options = f"-Dlog4j2.configurationFile=file:{_LOG4J} -Djava.io.tmpdir={scratch}"
    return (
        SparkSession.builder.appName(app_name)
        .master(os.environ.get("HROB_SPARK_MASTER", "local[*]"))
        .config("spark.driver.memory", os.environ.get("HROB_SPARK_DRIVER_MEMORY", "6g"))
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.sql.shuffle.partitions", os.environ.get("HROB_SPARK_SHUFFLE_PARTITIONS", "8"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(local_dir("spark-warehouse")))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.adaptive.enabled", "true")
        # Plans over hundreds of feature columns print to strings of hundreds of MB;
        # capped, they cannot exhaust the driver's heap.
        .config("spark.sql.maxPlanStringLength", "200000")
        # PySpark otherwise records the Python call site of every column function for
        # error messages: five extra JVM round trips each, and a feature run makes 5,000.
        .config("spark.python.sql.dataFrameDebugging.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
    )


def get_spark(app_name: str = "hrob") -> SparkSession:
    """The session to use: Databricks' active session, or a local one (created once)."""
    from pyspark.sql import SparkSession

    from ml.runtime.shipping import ship_package

    if on_databricks():
        spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    else:
        spark = SparkSession.getActiveSession()
        if spark is None:
            spark = _local_builder(app_name).getOrCreate()
            spark.sparkContext.setLogLevel("WARN")
    ship_package(spark)
    return spark


@contextmanager
def wide_rows(spark: SparkSession):
    """Interpreted projections while rows carry hundreds of columns (local Spark only).

    Code generated for a 563-column row is too large for HotSpot to compile, so it
    runs in the bytecode interpreter, slower than Spark's own interpreted expressions:
    assembling the feature table took 34 s generated and 11.5 s interpreted (measured
    on 31,000 snapshots, 2 cores). Narrow queries keep generated code.
    """
    if on_databricks():
        yield
        return
    key = "spark.sql.codegen.factoryMode"
    previous = spark.conf.get(key, None)
    spark.conf.set(key, "NO_CODEGEN")
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)
