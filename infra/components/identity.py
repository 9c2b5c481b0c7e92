"""Who an environment's jobs run as: its service principal, or (dev) the developer."""

from __future__ import annotations

from cdktn_provider_databricks.access_control_rule_set import (
    AccessControlRuleSet,
    AccessControlRuleSetGrantRules,
)
from cdktn_provider_databricks.data_databricks_current_user import DataDatabricksCurrentUser
from cdktn_provider_databricks.service_principal import ServicePrincipal
from constructs import Construct

from infra.props import EnvironmentProps


class EnvironmentIdentity(Construct):
    """Registers the environment's service principal in the workspace by its Entra ID
    application id, with only the entitlements a job identity needs, and lets the
    deploying identity (CI's service connection) run jobs as it."""

    def __init__(self, scope: Construct, id_: str, props: EnvironmentProps, deployer: DataDatabricksCurrentUser):
        super().__init__(scope, id_)
        sp = props.service_principal
        self.application_id: str | None = sp.application_id if sp else None
        if sp is None:
            return
        ServicePrincipal(
            self,
            "service_principal",
            application_id=sp.application_id,
            display_name=sp.display_name,
            active=True,
            workspace_access=True,
            databricks_sql_access=False,
            allow_cluster_create=False,
            allow_instance_pool_create=False,
        )
        account = props.platform.databricks_account_id
        AccessControlRuleSet(
            self,
            "deployer_may_run_as",
            name=f"accounts/{account}/servicePrincipals/{sp.application_id}/ruleSets/default",
            grant_rules=[
                AccessControlRuleSetGrantRules(
                    role="roles/servicePrincipal.user", principals=[deployer.acl_principal_id]
                ),
                AccessControlRuleSetGrantRules(
                    role="roles/servicePrincipal.manager", principals=[deployer.acl_principal_id]
                ),
            ],
        )

    @property
    def owner(self) -> str | None:
        """Owner of the environment's schema and model: its service principal, if it has one."""
        return self.application_id
