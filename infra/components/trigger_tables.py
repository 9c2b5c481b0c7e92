"""The tables the jobs' table-update triggers name, created before the jobs (bootstrap):
Databricks refuses a job whose trigger names a table that does not exist yet, and a
Lakehouse monitor on a table that does not exist. They are created once, with the columns
the code defines (ml/data/outputs.py), partitioned as the jobs write them, and owned by the
identity the jobs run as, which writes them from then on. Terraform never manages their
columns afterwards (`ignore_changes`): the feature job adds its features to its table as
the feature configuration changes, and a column change in Terraform would drop and
recreate a table of member data."""

from __future__ import annotations

from cdktn import TerraformResourceLifecycle
from cdktn_provider_databricks.sql_table import SqlTable, SqlTableColumn
from constructs import Construct

from infra.props import EnvironmentProps
from ml.data import outputs


def table_columns(table: str, top_factors: int) -> tuple[list[tuple[str, str]], str]:
    """(columns, partition column) of a trigger table."""
    if table == outputs.FEATURES:
        return outputs.FEATURE_COLUMNS, outputs.FEATURE_PARTITION
    if table == outputs.PREDICTIONS:
        return outputs.prediction_columns(top_factors), "scoring_date"
    raise ValueError(f"no table definition for '{table}'")


class TriggerTables(Construct):
    def __init__(self, scope: Construct, id_: str, props: EnvironmentProps, owner: str, after: list[Construct]):
        super().__init__(scope, id_)
        lifecycle = TerraformResourceLifecycle(
            ignore_changes=["column"], prevent_destroy=True if props.deployment.prevent_destroy else None
        )
        self.tables: dict[str, SqlTable] = {}
        for table in props.trigger_tables:
            columns, partition = table_columns(table, props.top_factors)
            self.tables[table] = SqlTable(
                self,
                table,
                catalog_name=props.catalog,
                schema_name=props.schema,
                name=table,
                table_type="MANAGED",
                data_source_format="DELTA",
                column=[SqlTableColumn(name=name, type=kind, nullable=True) for name, kind in columns],
                partitions=[partition],
                owner=owner,
                warehouse_id=props.platform.sql_warehouse_id,
                comment=f"HROB {props.env}: created before the jobs whose trigger names it; the jobs write it.",
                lifecycle=lifecycle,
                depends_on=after,
            )
