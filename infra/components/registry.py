"""The environment's MLflow experiment and Unity Catalog registered model, each with
least-privilege access: the job identity manages them, the data-science group
manages (dev) or reads (staging, prod)."""

from __future__ import annotations

import posixpath

from cdktn import TerraformResourceLifecycle
from cdktn_provider_databricks.directory import Directory
from cdktn_provider_databricks.grants import Grants, GrantsGrant
from cdktn_provider_databricks.mlflow_experiment import MlflowExperiment
from cdktn_provider_databricks.permissions import Permissions, PermissionsAccessControl
from cdktn_provider_databricks.registered_model import RegisteredModel
from constructs import Construct

from infra.props import EnvironmentProps

EXPERIMENT_LEVEL = {"manage": "CAN_MANAGE", "view": "CAN_READ"}
MODEL_PRIVILEGES = {"manage": ["ALL_PRIVILEGES"], "view": ["EXECUTE"]}


class ModelRegistry(Construct):
    def __init__(
        self, scope: Construct, id_: str, props: EnvironmentProps, job_identity: str | None, schema: Construct
    ):
        super().__init__(scope, id_)
        group = props.platform.data_science_group
        access = props.deployment.data_science_access
        lifecycle = TerraformResourceLifecycle(prevent_destroy=True) if props.deployment.prevent_destroy else None

        folder = Directory(self, "experiment_folder", path=posixpath.dirname(props.experiment_path))
        self.experiment = MlflowExperiment(
            self,
            "experiment",
            name=props.experiment_path,
            description=f"HROB risk model training runs, {props.env}",
            lifecycle=lifecycle,
            depends_on=[folder],
        )
        controls = [PermissionsAccessControl(group_name=group, permission_level=EXPERIMENT_LEVEL[access])]
        if job_identity:
            controls.append(
                PermissionsAccessControl(service_principal_name=job_identity, permission_level="CAN_MANAGE")
            )
        Permissions(self, "experiment_permissions", experiment_id=self.experiment.id, access_control=controls)

        catalog, schema_name, model = props.model_name.split(".")
        self.model = RegisteredModel(
            self,
            "model",
            catalog_name=catalog,
            schema_name=schema_name,
            name=model,
            owner=job_identity or group,
            comment=f"HROB composite high-risk pregnancy model, {props.env}. Aliases: champion, challenger.",
            lifecycle=lifecycle,
            depends_on=[schema],
        )
        Grants(
            self,
            "model_grants",
            model=props.model_name,
            grant=[GrantsGrant(principal=group, privileges=MODEL_PRIVILEGES[access])],
            depends_on=[self.model],
        )
