"""The table adapter: a logical table name is a Parquet table under HROB_HOME locally and
a Delta table `catalog.schema.table` in Unity Catalog on Databricks. No other module
knows the difference.

Writes are all-or-nothing. Locally a table is a set of immutable version folders and a
`_current` pointer file swapped atomically (os.replace) once a new version is complete,
so a write that fails part-way leaves the previous contents readable and unchanged.
Replacing partitions hard-links the untouched partitions into the new version instead
of copying them. Each write holds its table's lock from staging to commit
(ml/data/table_lock.py), so concurrent writers take turns instead of losing each other's
rows. On Databricks, Delta's transactions give the same guarantees, and a write that
loses a conflict with a concurrent one is retried.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from abc import ABC, abstractmethod
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ml.data.table_lock import table_lock, table_locks
from ml.errors import DataError
from ml.runtime.paths import local_dir
from ml.runtime.platform import on_databricks

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

POINTER = "_current"
METADATA = "_hrob_table.json"


class TableStore(ABC):
    """Tables of one namespace (`catalog.schema`)."""

    def __init__(self, spark: SparkSession, namespace: str):
        self.spark = spark
        self.namespace = namespace

    @abstractmethod
    def exists(self, table: str) -> bool: ...

    @abstractmethod
    def read(self, table: str) -> DataFrame: ...

    @abstractmethod
    def overwrite(self, df: DataFrame, table: str) -> None:
        """Replace the whole table with `df`."""

    def overwrite_many(self, tables: dict[str, DataFrame], progress=lambda _: None) -> None:
        """Replace several tables. Delta has no multi-table transaction: one after another."""
        for table, df in tables.items():
            progress(table)
            self.overwrite(df, table)

    @abstractmethod
    def replace_partitions(
        self,
        df: DataFrame,
        table: str,
        column: str,
        values: list[date] | None = None,
        partition_by: str | None = None,
    ) -> list[date]:
        """Replace the rows whose `column` (a date) is one present in `df`, or exactly one of
        `values` when given (a value `df` has no rows for is cleared); keep all others.

        The table is stored partitioned by `partition_by` (default: `column`); a coarser
        partition (the month of `column`, say) keeps the number of files small when every
        day has a few rows, and only the partitions holding replaced rows are rewritten."""

    @abstractmethod
    def location(self, table: str) -> str:
        """Where the table lives, for people to find it."""

    def declare_primary_key(  # noqa: B027 - optional: only Delta has something to declare
        self, table: str, columns: list[str], timeseries: str
    ) -> None:
        """Declare a Unity Catalog feature table (primary key with a timeseries column).

        Locally there is no catalogue to declare it in; jobs check key uniqueness
        themselves before writing.
        """

    def require(self, table: str, fix: str = "") -> DataFrame:
        """The table, or one line naming it, where it would be and `fix` (what writes it)."""
        if not self.exists(table):
            hint = f": {fix}" if fix else ""
            raise DataError(f"table {self.namespace}.{table} does not exist ({self.location(table)}){hint}")
        return self.read(table)

    @staticmethod
    def _partition_values(df: DataFrame, column: str, declared: list[date] | None = None) -> list[date]:
        if column not in df.columns:
            raise DataError(f"cannot partition by '{column}': no such column")
        values = sorted(row[0] for row in df.select(column).distinct().collect())
        if any(v is None for v in values):
            raise DataError(f"cannot partition by '{column}': it has null values")
        if any(not isinstance(v, date) for v in values):
            raise DataError(f"cannot partition by '{column}': partition columns must be dates")
        if declared is None:
            return values
        outside = sorted(set(values) - set(declared))
        if outside:
            raise DataError(f"rows for {column} {outside[0]} outside the partitions being replaced")
        if not declared:
            raise DataError(f"no {column} partition named to replace")
        return sorted(set(declared))


class LocalParquetStore(TableStore):
    """Parquet under HROB_HOME/warehouse/<catalog>/<schema>/<table>/<version>/."""

    def __init__(self, spark: SparkSession, namespace: str, root: Path | None = None):
        super().__init__(spark, namespace)
        self.root = (root or local_dir("warehouse")).joinpath(*namespace.split("."))

    # ---- reading
    def _table_dir(self, table: str) -> Path:
        return self.root / table

    def _live_version(self, table: str) -> Path | None:
        pointer = self._table_dir(table) / POINTER
        if not pointer.is_file():
            return None
        return self._table_dir(table) / pointer.read_text().strip()

    def exists(self, table: str) -> bool:
        return self._live_version(table) is not None

    def read(self, table: str) -> DataFrame:
        from pyspark.sql.types import StructType

        version = self._live_version(table)
        if version is None:
            raise DataError(f"table {self.namespace}.{table} does not exist ({self.location(table)})")
        meta = json.loads((version / METADATA).read_text())
        schema = StructType.fromJson(meta["schema"])
        return self.spark.read.schema(schema).parquet(str(version))

    def location(self, table: str) -> str:
        return str(self._table_dir(table))

    # ---- writing
    def overwrite(self, df: DataFrame, table: str) -> None:
        self.overwrite_many({table: df})

    def overwrite_many(self, tables: dict[str, DataFrame], progress=lambda _: None) -> None:
        """Stage every table, then commit them together: all are replaced or none."""
        with table_locks({self._qualified(t): self._table_dir(t) for t in tables}):
            staged: list[tuple[str, Path]] = []
            try:
                for table, df in tables.items():
                    progress(table)
                    staged.append((table, self._stage(table, df, partition_by=None, replaced=None)))
            except BaseException:
                for _, version in staged:
                    shutil.rmtree(version, ignore_errors=True)
                raise
            for table, version in staged:
                self._commit(table, version)

    def replace_partitions(
        self,
        df: DataFrame,
        table: str,
        column: str,
        values: list[date] | None = None,
        partition_by: str | None = None,
    ) -> list[date]:
        values = self._partition_values(df, column, values)
        replacing = (column, values)
        with table_lock(self._table_dir(table), self._qualified(table)):
            self._commit(table, self._stage(table, df, partition_by=partition_by or column, replaced=replacing))
        return values

    def _qualified(self, table: str) -> str:
        return f"{self.namespace}.{table}"

    def _stage(
        self, table: str, df: DataFrame, partition_by: str | None, replaced: tuple[str, list[date]] | None
    ) -> Path:
        """Write a complete new version of the table beside the live one; nothing reads it yet."""
        table_dir = self._table_dir(table)
        table_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        version = table_dir / f"v{stamp}-{uuid.uuid4().hex[:8]}"
        previous = self._live_version(table)
        try:
            if partition_by:  # one writer per partition value: few files, not tasks x dates
                df = df.repartition(partition_by)
            writer = df.write.mode("errorifexists")
            if partition_by:
                writer = writer.partitionBy(partition_by)
            writer.parquet(str(version))
            if partition_by and previous is not None and replaced is not None:
                self._carry_over(previous, version, df, partition_by, *replaced)
            meta = {"schema": json.loads(df.schema.json()), "partition_by": partition_by}
            (version / METADATA).write_text(json.dumps(meta, indent=1))
        except BaseException as error:
            shutil.rmtree(version, ignore_errors=True)
            if _not_writable(error, table_dir):
                raise DataError(
                    f"table {self._qualified(table)}: cannot write to {table_dir} (permission denied); "
                    "the table is unchanged"
                ) from None
            raise
        return version

    def _commit(self, table: str, version: Path) -> None:
        table_dir = self._table_dir(table)
        previous = self._live_version(table)
        pointer_tmp = table_dir / f".{POINTER}.{uuid.uuid4().hex[:8]}"
        pointer_tmp.write_text(version.name)
        os.replace(pointer_tmp, table_dir / POINTER)  # the commit point
        # The version just replaced stays, so a reader that started on it can finish.
        self._remove_stale(table_dir, keep={version.name, previous.name if previous else ""})

    def _carry_over(
        self, previous: Path, version: Path, df: DataFrame, partition_by: str, column: str, replaced: list[date]
    ) -> None:
        """Bring every row not being replaced from the previous version into the new one:
        untouched partitions by hard links, partitions that also hold replaced rows rewritten
        without them (and every kept row rewritten when the columns changed)."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import StructType

        old_meta = json.loads((previous / METADATA).read_text())
        if old_meta.get("partition_by") != partition_by:
            raise DataError(
                f"table {self.namespace}: cannot write partitions by '{partition_by}' into a table "
                f"partitioned by '{old_meta.get('partition_by')}'"
            )
        old = self.spark.read.schema(StructType.fromJson(old_meta["schema"])).parquet(str(previous))
        if partition_by == column:
            touched = {f"{column}={value.isoformat()}" for value in replaced}
        else:
            values = [r[0] for r in old.where(F.col(column).isin(replaced)).select(partition_by).distinct().collect()]
            touched = {f"{partition_by}={_partition_text(value)}" for value in values}
        folders = [p for p in previous.iterdir() if p.is_dir() and p.name.startswith(f"{partition_by}=")]
        same_columns = _columns(old_meta["schema"]) == _columns(json.loads(df.schema.json()))
        rewrite = [p.name for p in folders if p.name in touched and partition_by != column]
        for partition in folders:
            if partition.name not in touched and same_columns:
                _link_tree(partition, version / partition.name)
        if same_columns and not rewrite:
            return
        # Rows to rewrite: those of partitions that also hold replaced rows, and, when the
        # columns changed (a feature was added, say), every kept row, missing columns as nulls.
        names = [
            p.name.split("=", 1)[1]
            for p in folders
            if (p.name in rewrite) or (not same_columns and p.name not in touched)
        ]
        keep = old.where(~F.col(column).isin(replaced) & F.col(partition_by).cast("string").isin(names))
        aligned = keep.unionByName(df.limit(0), allowMissingColumns=True).select(*df.columns)
        aligned = aligned.select([aligned[c].cast(df.schema[c].dataType) for c in df.columns])
        aligned.write.mode("append").partitionBy(partition_by).parquet(str(version))

    @staticmethod
    def _remove_stale(table_dir: Path, keep: set[str]) -> None:
        """Versions no reader can be on. Runs under the table's lock: no other writer of this
        table has a version in progress, so what goes is only what a killed writer left."""
        for child in table_dir.iterdir():
            if child.is_dir() and child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)


def _not_writable(error: BaseException, table_dir: Path) -> bool:
    """The write failed because the table's folder is not writable (a read-only mount, a
    folder owned by someone else), whether Python or Spark's tasks found out."""
    if isinstance(error, PermissionError):
        return True
    return "Permission denied" in str(error) or not os.access(table_dir, os.W_OK)


def _partition_text(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _columns(schema: dict) -> list[tuple[str, str]]:
    """Names and types: what decides whether old files can be reused (nullability does not)."""
    return [(field["name"], json.dumps(field["type"], sort_keys=True)) for field in schema["fields"]]


def _link_tree(source: Path, target: Path) -> None:
    for directory, _, files in os.walk(source):
        destination = target / Path(directory).relative_to(source)
        destination.mkdir(parents=True, exist_ok=True)
        for name in files:
            try:
                os.link(Path(directory) / name, destination / name)
            except OSError:  # another filesystem, or links unsupported
                shutil.copy2(Path(directory) / name, destination / name)


# Delta's optimistic concurrency: a commit that lost to a concurrent one (by exception
# class, and by error class as Databricks prints it). Rerunning the same write is safe:
# an overwrite or a replaceWhere over the same dates gives the same table.
_DELTA_CONFLICTS = (
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "ConcurrentWriteException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "DELTA_CONCURRENT_",
    "DELTA_METADATA_CHANGED",
    "DELTA_PROTOCOL_CHANGED",
)
DELTA_WRITE_ATTEMPTS = 4


def is_write_conflict(error: BaseException) -> bool:
    text = f"{type(error).__name__}: {error}"
    return any(marker in text for marker in _DELTA_CONFLICTS)


def retry_conflicts(write, table: str, attempts: int = DELTA_WRITE_ATTEMPTS, pause=time.sleep):
    """Run `write`, again when it lost a conflict with a concurrent writer (backing off)."""
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except Exception as error:
            if not is_write_conflict(error):
                raise
            if attempt == attempts:
                raise DataError(
                    f"table {table}: the write lost to concurrent writers {attempts} times; the table holds "
                    "their changes, not this one's: run the job again"
                ) from None
            pause(2.0**attempt)
    raise AssertionError("unreachable")


class DeltaTableStore(TableStore):
    """Delta tables in Unity Catalog. Thin on purpose: Delta provides the transactions."""

    def _name(self, table: str) -> str:
        return f"{self.namespace}.{table}"

    def exists(self, table: str) -> bool:
        return self.spark.catalog.tableExists(self._name(table))

    def read(self, table: str) -> DataFrame:
        return self.spark.table(self._name(table))

    def location(self, table: str) -> str:
        return self._name(table)

    def overwrite(self, df: DataFrame, table: str) -> None:
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        retry_conflicts(lambda: writer.saveAsTable(self._name(table)), self._name(table))

    def replace_partitions(
        self,
        df: DataFrame,
        table: str,
        column: str,
        values: list[date] | None = None,
        partition_by: str | None = None,
    ) -> list[date]:
        values = self._partition_values(df, column, values)
        if not values:
            return values  # nothing written, nothing named: nothing to replace
        condition = f"{column} IN ({', '.join(repr(v.isoformat()) for v in values)})"
        writer = (
            df.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", condition)
            .option("mergeSchema", "true")
            .partitionBy(partition_by or column)
        )
        retry_conflicts(lambda: writer.saveAsTable(self._name(table)), self._name(table))
        return values

    def declare_primary_key(self, table: str, columns: list[str], timeseries: str) -> None:
        name = self._name(table)
        catalog, schema = self.namespace.split(".")
        existing = self.spark.sql(
            f"SELECT 1 FROM {catalog}.information_schema.table_constraints "
            f"WHERE table_schema = '{schema}' AND table_name = '{table}' "
            "AND constraint_type = 'PRIMARY KEY'"
        )
        if existing.limit(1).count():
            return
        for column in columns:
            self.spark.sql(f"ALTER TABLE {name} ALTER COLUMN {column} SET NOT NULL")
        keys = ", ".join(f"{c} TIMESERIES" if c == timeseries else c for c in columns)
        self.spark.sql(f"ALTER TABLE {name} ADD CONSTRAINT {table}_pk PRIMARY KEY ({keys})")


def table_store(spark: SparkSession, namespace: str) -> TableStore:
    return DeltaTableStore(spark, namespace) if on_databricks() else LocalParquetStore(spark, namespace)
