"""Each environment's two stacks, assembled from the constructs in infra/components.

- `<env>-bootstrap` (BootstrapStack): applied once by the platform team, with the rights
  only it has (Azure role assignments, metastore privileges, catalog ownership, account
  roles on service principals, workspace-root folders): the environment's storage and Key
  Vault, the schema (handed to the deployer), the catalog-level grants, the run-as
  principal's roles and Git credential, the experiment folder, the tables the jobs'
  triggers name, and an empty state for the application stack.
- `<env>` (HrobStack): deployed by CI's deployer on every release, planned on pull requests
  by the read-only planner: the jobs, the experiment, the registered model, the grants
  inside the schema, the predictions monitor. It reads the bootstrap's outputs (its state,
  read-only), so it plans only once the bootstrap exists, and its jobs wait for them.

Every provider and the state backend authenticate one way, through the Azure CLI session
of whoever applies (CI: AzureCLI@2 with the environment's service connection; a person:
`az login`); no credential is set here.
"""

from __future__ import annotations

from cdktn import AzurermBackend, DataTerraformRemoteStateAzurerm, Fn, TerraformOutput, TerraformStack
from cdktn_provider_azurerm.provider import AzurermProvider, AzurermProviderFeatures, AzurermProviderFeaturesStorage
from cdktn_provider_databricks.data_databricks_spark_version import DataDatabricksSparkVersion
from cdktn_provider_databricks.provider import DatabricksProvider
from cdktn_provider_time.provider import TimeProvider
from cdktn_provider_time.static_resource import StaticResource
from constructs import Construct

from infra.components.data_schema import SchemaGrants
from infra.components.environment_access import EnvironmentAccess, Principals
from infra.components.identity import EnvironmentIdentity
from infra.components.ml_job import MlJob
from infra.components.prediction_monitor import PredictionMonitor
from infra.components.registry import ModelRegistry
from infra.components.state_seed import StateSeed
from infra.components.storage import ProjectStorage
from infra.components.trigger_tables import TriggerTables
from infra.props import EnvironmentProps

# The deployer's and the planner's Azure rights end at their environment's resource group:
# the provider must not try to register resource providers across the subscription (the
# platform team registers them once: docs/deploy.md).
NO_PROVIDER_REGISTRATION = "none"


def _pinned(stack: TerraformStack, props: EnvironmentProps, key: str) -> None:
    stack.add_override("terraform.required_version", f"= {props.platform.terraform_version}")
    backend = props.platform.state_backend
    AzurermBackend(
        stack,
        resource_group_name=backend.resource_group_name,
        storage_account_name=backend.storage_account_name,
        container_name=props.deployment.state_container,  # this environment's alone
        key=key,  # blob leases lock the state
        use_azuread_auth=True,
    )
    DatabricksProvider(
        stack,
        "databricks",
        host=props.platform.workspace_host,
        azure_workspace_resource_id=props.platform.workspace_resource_id,
        auth_type="azure-cli",
    )


def _azurerm(stack: TerraformStack, alias: str | None = None, data_plane: bool = False) -> AzurermProvider:
    return AzurermProvider(
        stack,
        f"azurerm_{alias}" if alias else "azurerm",
        alias=alias,
        features=[AzurermProviderFeatures(storage=[AzurermProviderFeaturesStorage(data_plane_available=data_plane)])],
        resource_provider_registrations=NO_PROVIDER_REGISTRATION,
        storage_use_azuread=True,
        use_cli=True,
        use_msi=False,
        use_oidc=False,
    )


class BootstrapStack(TerraformStack):
    """What the platform team applies once per environment (docs/deploy.md, first deploy)."""

    def __init__(self, scope: Construct, props: EnvironmentProps):
        super().__init__(scope, props.bootstrap_stack)
        _pinned(self, props, props.bootstrap_state_key)
        _azurerm(self)  # Resource Manager only: the project's storage denies its data plane
        state = _azurerm(self, alias="state", data_plane=True)  # the platform's state account
        TimeProvider(self, "time")

        principals = Principals(self, "principals", props)
        run_as = principals.application_id("run_as")
        storage = ProjectStorage(self, "storage", props, run_as)
        access = EnvironmentAccess(
            self, "access", props, principals, f"{storage.root_url}/schema", depends_on=[storage.external_location]
        )
        tables = TriggerTables(
            self,
            "tables",
            props,
            owner=run_as or props.platform.data_science_group,
            after=[access.schema, access.table_creator],
        )
        StateSeed(self, "state_seed", props, state)
        TerraformOutput(self, "schema", value=access.full_name)
        TerraformOutput(self, "secret_scope", value=storage.secret_scope.name)
        TerraformOutput(self, "trigger_tables", value=[t.id for t in tables.tables.values()])
        TerraformOutput(
            self,
            "run_as_roles",
            value=access.run_as_roles.id if access.run_as_roles else "none (jobs run as the developer)",
        )


class HrobStack(TerraformStack):
    """What CI deploys on every release of an environment."""

    def __init__(self, scope: Construct, props: EnvironmentProps):
        super().__init__(scope, props.env)
        _pinned(self, props, props.state_key)
        backend = props.platform.state_backend
        # The bootstrap's outputs: read-only, and a plan before the bootstrap exists fails here
        bootstrap_state = DataTerraformRemoteStateAzurerm(
            self,
            "bootstrap",
            resource_group_name=backend.resource_group_name,
            storage_account_name=backend.storage_account_name,
            container_name=props.deployment.state_container,
            key=props.bootstrap_state_key,
            use_azuread_auth=True,
        )
        TimeProvider(self, "time")
        # What the jobs and the monitor wait for: the bootstrap's run-as roles, trigger tables
        # and schema, as its outputs say (a remote state cannot be depended on directly)
        bootstrap = StaticResource(
            self,
            "bootstrap_applied",
            triggers={name: bootstrap_state.get_string(name) for name in ("schema", "run_as_roles", "secret_scope")}
            | {"trigger_tables": Fn.jsonencode(bootstrap_state.get("trigger_tables"))},
        )

        identity = EnvironmentIdentity(self, "identity", props)
        schema = SchemaGrants(
            self,
            "data",
            props,
            identity.job_identity,
            identity.deployer_identity,
            identity.planner_identity,
            depends_on=[bootstrap],
        )
        registry = ModelRegistry(self, "registry", props, identity, schema.grants)
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
                # the run-as roles, the trigger tables and the Git credential are the bootstrap's
                after=[bootstrap],
            )
        PredictionMonitor(self, "prediction_monitor", props, depends_on=[schema.grants, bootstrap])
        for name, job in jobs.items():
            TerraformOutput(self, f"{name}_job_id", value=job.job.id, description=f"Databricks job id: {name}")
        TerraformOutput(self, "experiment_id", value=registry.experiment.id)
        TerraformOutput(self, "model_name", value=props.model_name)
        TerraformOutput(self, "schema", value=schema.full_name)
