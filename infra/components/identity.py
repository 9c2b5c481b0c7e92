"""Who deploys an environment, who its jobs run as, and who plans it on pull requests.

Three distinct Entra ID service principals per deployed environment (dev: the developer
deploys and the jobs run as them), all registered in the workspace by the platform team
(the first-deploy runbook in docs/deploy.md) and adopted here by data sources, so a workspace
where they exist is the normal case and every resource that names one waits for its
look-up. None of them is given workspace-admin, metastore or Azure role rights here:
- deployer: what CI's deploy service connection logs in as. The stack stops unless it is
  the identity applying it, so prod's deployer cannot apply staging or a laptop's
  `az login` prod by accident. It may run jobs as the run-as principal
  (servicePrincipal.user) and manage its Git credential (servicePrincipal.manager).
- run_as: what the jobs run as. Its Git credential lets it check the repository out of
  Azure Repos with its own Entra ID identity (Azure DevOps service principal
  federation), so no personal access token exists anywhere.
- planner: the read-only identity pull-request plans run as (granted read rights by the
  other constructs).
"""

from __future__ import annotations

from cdktn import Postcondition, TerraformResourceLifecycle, Token
from cdktn_provider_databricks.access_control_rule_set import (
    AccessControlRuleSet,
    AccessControlRuleSetGrantRules,
)
from cdktn_provider_databricks.data_databricks_current_user import DataDatabricksCurrentUser
from cdktn_provider_databricks.data_databricks_service_principal import DataDatabricksServicePrincipal
from cdktn_provider_databricks.git_credential import GitCredential
from constructs import Construct

from infra.props import EnvironmentProps

# Git credential type for Azure Repos through the principal's own Entra ID identity.
AZURE_REPOS_ENTRA = "azureDevOpsServicesAad"


class EnvironmentIdentity(Construct):
    def __init__(self, scope: Construct, id_: str, props: EnvironmentProps):
        super().__init__(scope, id_)
        deployment = props.deployment
        expected = deployment.deployer
        lifecycle = None
        if expected is not None:
            lifecycle = TerraformResourceLifecycle(
                postcondition=[
                    Postcondition(
                        condition=f'${{self.user_name == "{expected.application_id}"}}',
                        error_message=(
                            f"{props.env} is deployed by {expected.display_name} ({expected.application_id}) "
                            f"only: log in with the hrob-{props.env}-deploy service connection"
                        ),
                    )
                ]
            )
        self.deploying = DataDatabricksCurrentUser(self, "deploying", lifecycle=lifecycle)

        self.run_as: DataDatabricksServicePrincipal | None = None
        self.deployer: DataDatabricksServicePrincipal | None = None
        self.planner: DataDatabricksServicePrincipal | None = None
        if deployment.planner is not None:
            self.planner = DataDatabricksServicePrincipal(
                self, "planner", application_id=deployment.planner.application_id
            )
        if deployment.service_principal is None:
            return
        self.run_as = DataDatabricksServicePrincipal(
            self, "run_as", application_id=deployment.service_principal.application_id
        )
        self.deployer = deployer = DataDatabricksServicePrincipal(
            self, "deployer", application_id=expected.application_id
        )
        # Authoritative for the run-as principal's roles: only the deployer uses and manages it.
        rule_set = AccessControlRuleSet(
            self,
            "run_as_roles",
            name=f"accounts/{props.platform.databricks_account_id}/servicePrincipals/"
            f"{self.run_as.application_id}/ruleSets/default",
            grant_rules=[
                AccessControlRuleSetGrantRules(
                    role="roles/servicePrincipal.user", principals=[deployer.acl_principal_id]
                ),
                AccessControlRuleSetGrantRules(
                    role="roles/servicePrincipal.manager", principals=[deployer.acl_principal_id]
                ),
            ],
        )
        GitCredential(
            self,
            "run_as_git",
            git_provider=AZURE_REPOS_ENTRA,
            principal_id=Token.as_number(self.run_as.id),  # the principal's workspace (SCIM) id
            depends_on=[rule_set],  # managing another principal's credential needs the manager role
        )

    @property
    def job_identity(self) -> str | None:
        """The run-as principal's application id, as a reference (None: the jobs run as the deployer)."""
        return self.run_as.application_id if self.run_as else None

    @property
    def deployer_identity(self) -> str | None:
        return self.deployer.application_id if self.deployer else None

    @property
    def planner_identity(self) -> str | None:
        return self.planner.application_id if self.planner else None
