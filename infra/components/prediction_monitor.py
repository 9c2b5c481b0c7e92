"""A Lakehouse Monitoring (data quality) monitor on the environment's predictions table,
inference-log profile: the distribution of `risk_score` per day and model version, sliced
by landmark and tier, with its metric tables in the environment's own schema. The
monitoring job computes drift against the champion's training data itself; this monitor
gives the platform's dashboard and alerting on the same table.

The deployer creates it: it reads the table through its own schema grant (SELECT), made
first (`depends_on`), and the monitor's dashboard and refreshes run on the platform's SQL
warehouse, named (`platform.sql_warehouse_id`) rather than whichever one happens to be
running. The table exists from the bootstrap on (infra/components/trigger_tables.py)."""

from __future__ import annotations

from cdktn_provider_databricks.quality_monitor import (
    QualityMonitor,
    QualityMonitorInferenceLog,
    QualityMonitorNotifications,
    QualityMonitorNotificationsOnFailure,
    QualityMonitorSchedule,
)
from constructs import Construct

from infra.props import EnvironmentProps
from ml.data import outputs

SLICES = ("landmark", "risk_tier")
REFRESH_CRON = "0 0 14 * * ?"  # daily, after the day's inference has normally finished


class PredictionMonitor(Construct):
    def __init__(self, scope: Construct, id_: str, props: EnvironmentProps, depends_on: list):
        super().__init__(scope, id_)
        namespace = f"{props.catalog}.{props.schema}"
        self.monitor = QualityMonitor(
            self,
            "monitor",
            table_name=f"{namespace}.{outputs.PREDICTIONS}",
            output_schema_name=namespace,
            assets_dir=f"{props.experiment_folder}/monitoring",
            inference_log=[  # the plugin-framework resource takes its blocks as lists
                QualityMonitorInferenceLog(
                    granularities=["1 day"],
                    timestamp_col="scored_at",
                    prediction_col="risk_score",
                    model_id_col="model_version",
                    problem_type="PROBLEM_TYPE_REGRESSION",  # a risk score; outcomes arrive months later
                )
            ],
            slicing_exprs=list(SLICES),
            schedule=[QualityMonitorSchedule(quartz_cron_expression=REFRESH_CRON, timezone_id="UTC")],
            notifications=[
                QualityMonitorNotifications(
                    on_failure=[
                        QualityMonitorNotificationsOnFailure(
                            email_addresses=list(props.deployment.notifications.on_failure)
                        )
                    ]
                )
            ],
            warehouse_id=props.platform.sql_warehouse_id,
            depends_on=depends_on,
        )
