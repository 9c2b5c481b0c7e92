"""The environment's MLflow experiment and Unity Catalog registered model.

The experiment lives in the environment's own workspace folder (never under /Shared,
where every user can manage everything), which the bootstrap stack creates and whose
access it sets. The experiment is managed by the run-as principal, which logs its runs;
the data-science group manages (dev) or reads (staging, prod) it and the planner reads it.
The registered model belongs to the run-as principal, which registers versions and moves
their aliases; the deployer that creates it and hands it over keeps EXECUTE (reading its
versions and decisions: `hrob model report` after `make train-remote`), and so does the
operations group, whose rollbacks run as the rollback job (the run-as principal).
"""

from __future__ import annotations

from cdktn import TerraformResourceLifecycle
from cdktn_provider_databricks.data_databricks_directory import DataDatabricksDirectory
from cdktn_provider_databricks.grants import Grants, GrantsGrant
from cdktn_provider_databricks.mlflow_experiment import MlflowExperiment
from cdktn_provider_databricks.permissions import Permissions, PermissionsAccessControl
from cdktn_provider_databricks.registered_model import RegisteredModel
from constructs import Construct

from infra.props import EnvironmentProps

EXPERIMENT_LEVEL = {"manage": "CAN_MANAGE", "view": "CAN_READ"}
MODEL_PRIVILEGES = {"manage": ["ALL_PRIVILEGES"], "view": ["EXECUTE"]}
READS_MODEL = ["EXECUTE"]


def _control(application_id: str, level: str) -> PermissionsAccessControl:
    return PermissionsAccessControl(service_principal_name=application_id, permission_level=level)


class ModelRegistry(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        props: EnvironmentProps,
        identity,
        schema: Construct,
    ):
        super().__init__(scope, id_)
        group = props.platform.data_science_group
        access = props.deployment.data_science_access
        lifecycle = TerraformResourceLifecycle(prevent_destroy=True) if props.deployment.prevent_destroy else None
        run_as, planner = identity.job_identity, identity.planner_identity

        folder = DataDatabricksDirectory(self, "experiment_folder", path=props.experiment_folder)  # bootstrap's

        self.experiment = MlflowExperiment(
            self,
            "experiment",
            name=props.experiment_path,
            description=f"HROB risk model training runs, {props.env}",
            lifecycle=lifecycle,
            depends_on=[folder],
        )
        controls = [PermissionsAccessControl(group_name=group, permission_level=EXPERIMENT_LEVEL[access])]
        if run_as:
            controls.append(_control(run_as, "CAN_MANAGE"))
        if planner:
            controls.append(_control(planner, "CAN_READ"))
        Permissions(self, "experiment_permissions", experiment_id=self.experiment.id, access_control=controls)

        catalog, schema_name, model = props.model_name.split(".")
        self.model = RegisteredModel(
            self,
            "model",
            catalog_name=catalog,
            schema_name=schema_name,
            name=model,
            owner=run_as or group,
            comment=f"HROB composite high-risk pregnancy model, {props.env}. Aliases: champion, challenger.",
            lifecycle=lifecycle,
            depends_on=[schema],
        )
        grants = [
            GrantsGrant(principal=group, privileges=MODEL_PRIVILEGES[access]),
            GrantsGrant(principal=props.platform.operations_group, privileges=READS_MODEL),
        ]
        if identity.deployer_identity:
            grants.append(GrantsGrant(principal=identity.deployer_identity, privileges=READS_MODEL))
        Grants(self, "model_grants", model=self.model.id, grant=grants)
