"""What the platform team grants an environment once (the bootstrap stack), and only it can:
the environment's schema, handed to its deployer; the catalog-level grants the catalogs'
owners alone may make; the run-as principal's roles and its Git credential; the
experiment folder at the workspace root.

Why here and not in the application stack (Unity Catalog, Databricks account roles):
- a privilege on a catalog or on the data platform's source schema can be granted only by
  its owner, a principal with MANAGE on it, or a metastore admin: not by the deployer;
- a service principal's roles are set by its managers (account admins); managing its Git
  credential (`principal_id`) needs the manager role too;
- only admins create folders at the workspace root.
The schema belongs to the deployer (dev: the data-science group), so the application
stack it deploys can grant privileges inside it, itself included: a schema's owner may
grant privileges on every object in it.
"""

from __future__ import annotations

from cdktn import TerraformResourceLifecycle, Token
from cdktn_provider_databricks.access_control_rule_set import (
    AccessControlRuleSet,
    AccessControlRuleSetGrantRules,
)
from cdktn_provider_databricks.data_databricks_current_user import DataDatabricksCurrentUser
from cdktn_provider_databricks.data_databricks_service_principal import DataDatabricksServicePrincipal
from cdktn_provider_databricks.directory import Directory
from cdktn_provider_databricks.git_credential import GitCredential
from cdktn_provider_databricks.grant import Grant
from cdktn_provider_databricks.permissions import Permissions, PermissionsAccessControl
from cdktn_provider_databricks.schema import Schema
from constructs import Construct

from infra.props import EnvironmentProps

# Git credential type for Azure Repos through the principal's own Entra ID identity.
AZURE_REPOS_ENTRA = "azureDevOpsServicesAad"
# The deployer runs jobs as the run-as principal (user) and manages its credential (manager).
RUN_AS_ROLES = ("roles/servicePrincipal.user", "roles/servicePrincipal.manager")
FOLDER_LEVEL = {"manage": "CAN_MANAGE", "view": "CAN_READ"}


class Principals(Construct):
    """The environment's deployer, run-as and planner principals, adopted by application id."""

    def __init__(self, scope: Construct, id_: str, props: EnvironmentProps):
        super().__init__(scope, id_)
        deployment = props.deployment
        self.by_role: dict[str, DataDatabricksServicePrincipal] = {
            role: DataDatabricksServicePrincipal(self, role, application_id=identity.application_id)
            for role, identity in deployment.identities().items()
        }

    def application_id(self, role: str) -> str | None:
        found = self.by_role.get(role)
        return found.application_id if found else None


class EnvironmentAccess(Construct):
    def __init__(
        self, scope: Construct, id_: str, props: EnvironmentProps, principals: Principals, storage_root: str, depends_on
    ):
        super().__init__(scope, id_)
        group = props.platform.data_science_group
        deployer = principals.application_id("deployer")
        run_as = principals.application_id("run_as")
        planner = principals.application_id("planner")
        lifecycle = TerraformResourceLifecycle(prevent_destroy=True) if props.deployment.prevent_destroy else None
        self.schema = Schema(
            self,
            "schema",
            catalog_name=props.catalog,
            name=props.schema,
            storage_root=storage_root,
            owner=deployer or group,  # the application stack grants inside it
            comment=f"HROB risk model, {props.env}: feature tables, predictions, outreach list, model.",
            properties={"project": "hrob", "environment": props.env},
            lifecycle=lifecycle,
            depends_on=depends_on,
        )
        self.full_name = f"{props.catalog}.{props.schema}"
        # Whoever applies the bootstrap creates the trigger tables in the schema it just handed
        # over: as owner of the catalog (or with MANAGE on it) it may grant itself that
        bootstrapper = DataDatabricksCurrentUser(self, "bootstrapper")
        self.table_creator = Grant(
            self,
            "bootstrapper_creates_tables",
            schema=self.schema.id,
            principal=bootstrapper.user_name,
            privileges=["USE_SCHEMA", "CREATE_TABLE"],
        )

        # Catalog-level grants, additive: the catalogs and the source schema are the data platform's.
        source_catalog, _ = props.source_schema.split(".")
        self.grants: list[Grant] = []
        catalog_users = [(name, who) for name, who in (("deployer", deployer), ("run_as", run_as)) if who]
        catalog_users.append(("operations", props.platform.operations_group))  # reads the model
        if not deployer:
            catalog_users.append(("group", group))
        for name, who in catalog_users:
            self._grant(f"{name}_catalog", principal=who, catalog=props.catalog, privileges=["USE_CATALOG"])
        if planner:
            self._grant(
                "planner_catalog", principal=planner, catalog=props.catalog, privileges=["USE_CATALOG", "BROWSE"]
            )
        reader = run_as or group  # who the jobs run as reads the sources
        if source_catalog != props.catalog:
            self._grant("reader_source_catalog", principal=reader, catalog=source_catalog, privileges=["USE_CATALOG"])
        self._grant("reader_sources", principal=reader, schema=props.source_schema, privileges=["USE_SCHEMA", "SELECT"])

        self.run_as_roles: AccessControlRuleSet | None = None
        if run_as and deployer:
            self.run_as_roles = AccessControlRuleSet(
                self,
                "run_as_roles",
                name=f"accounts/{props.platform.databricks_account_id}/servicePrincipals/{run_as}/ruleSets/default",
                grant_rules=[
                    AccessControlRuleSetGrantRules(
                        role=role, principals=[principals.by_role["deployer"].acl_principal_id]
                    )
                    for role in RUN_AS_ROLES
                ],
            )
            GitCredential(
                self,
                "run_as_git",
                git_provider=AZURE_REPOS_ENTRA,
                principal_id=Token.as_number(principals.by_role["run_as"].id),  # its workspace (SCIM) id
                force=True,  # a credential set by hand before is replaced, not an error
            )

        # The experiment's folder at the workspace root, and who may do what in it.
        self.folder = Directory(self, "experiment_folder", path=props.experiment_folder, lifecycle=lifecycle)
        access = props.deployment.data_science_access
        controls = [PermissionsAccessControl(group_name=group, permission_level=FOLDER_LEVEL[access])]
        if deployer:  # the deployer creates and manages the experiment in it
            controls.append(PermissionsAccessControl(service_principal_name=deployer, permission_level="CAN_MANAGE"))
        controls += [
            PermissionsAccessControl(service_principal_name=who, permission_level="CAN_READ")
            for who in (run_as, planner)
            if who
        ]
        Permissions(self, "folder_permissions", directory_path=self.folder.path, access_control=controls)

    def _grant(self, id_: str, **kwargs) -> None:
        self.grants.append(Grant(self, id_, **kwargs))
