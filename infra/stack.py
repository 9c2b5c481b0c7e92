"""One environment's stack, assembled from the constructs in infra/components."""

from __future__ import annotations

from cdktn import AzurermBackend, TerraformOutput, TerraformStack
from cdktn_provider_azurerm.provider import AzurermProvider, AzurermProviderFeatures
from cdktn_provider_databricks.data_databricks_spark_version import DataDatabricksSparkVersion
from cdktn_provider_databricks.provider import DatabricksProvider
from cdktn_provider_time.provider import TimeProvider
from constructs import Construct

from infra.components.data_schema import DataSchema
from infra.components.identity import EnvironmentIdentity
from infra.components.ml_job import MlJob
from infra.components.prediction_monitor import PredictionMonitor
from infra.components.registry import ModelRegistry
from infra.components.storage import ProjectStorage
from infra.props import EnvironmentProps


class HrobStack(TerraformStack):
    """Everything one environment owns. Every provider and the state backend authenticate
    one way, through the Azure CLI session of whoever deploys (CI: AzureCLI@2 with the
    environment's service connection; a developer: `az login`); no credential is set here."""

    def __init__(self, scope: Construct, props: EnvironmentProps):
        super().__init__(scope, props.env)
        self.add_override("terraform.required_version", f"= {props.platform.terraform_version}")
        backend = props.platform.state_backend
        AzurermBackend(
            self,
            resource_group_name=backend.resource_group_name,
            storage_account_name=backend.storage_account_name,
            container_name=props.deployment.state_container,  # this environment's alone
            key=props.state_key,  # blob leases lock the state
            use_azuread_auth=True,
        )
        DatabricksProvider(
            self,
            "databricks",
            host=props.platform.workspace_host,
            azure_workspace_resource_id=props.platform.workspace_resource_id,
            auth_type="azure-cli",
        )
        AzurermProvider(
            self,
            "azurerm",
            features=[AzurermProviderFeatures()],
            storage_use_azuread=True,
            use_cli=True,
            use_msi=False,
            use_oidc=False,
        )
        TimeProvider(self, "time")

        identity = EnvironmentIdentity(self, "identity", props)
        storage = ProjectStorage(self, "storage", props, identity.job_identity)
        data = DataSchema(
            self,
            "data",
            props,
            identity.job_identity,
            identity.planner_identity,
            f"{storage.root_url}/schema",
            depends_on=[storage.external_location],
        )
        registry = ModelRegistry(self, "registry", props, identity, data.schema)
        # The runtime is resolved by Databricks from what configs/project.yml names: the LTS ML
        # runtime of that Spark version (CPU, the configured Scala).
        runtime = DataDatabricksSparkVersion(
            self,
            "runtime",
            long_term_support=True,
            ml=True,
            spark_version=props.runtime.spark,
            scala=props.runtime.scala,
            latest=True,
        )
        jobs: dict[str, MlJob] = {}
        for jp in props.jobs:  # in catalogue order: a run-job task starts a job declared before it
            jobs[jp.job.name] = MlJob(
                self,
                f"job_{jp.job.name}",
                props,
                jp,
                identity.job_identity,
                identity.planner_identity,
                runtime.id,
                {name: job.job.id for name, job in jobs.items()},
            )
        if props.deployment.prediction_monitor:
            PredictionMonitor(self, "prediction_monitor", props, data.schema)
        for name, job in jobs.items():
            TerraformOutput(self, f"{name}_job_id", value=job.job.id, description=f"Databricks job id: {name}")
        TerraformOutput(self, "experiment_id", value=registry.experiment.id)
        TerraformOutput(self, "model_name", value=props.model_name)
        TerraformOutput(self, "schema", value=data.full_name)
        TerraformOutput(self, "secret_scope", value=storage.secret_scope.name)
