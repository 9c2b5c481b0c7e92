"""Who deploys an environment, who its jobs run as, and who plans it on pull requests, as the
application stack sees them.

Three distinct Entra ID service principals per deployed environment (dev: the developer
deploys and the jobs run as them), registered by the platform team and adopted here by
data sources, so every resource that names one waits for its look-up. Their roles (the
deployer may run jobs as the run-as principal and manage it) and the run-as principal's
Git credential are the bootstrap stack's (infra/components/environment_access.py): only the
principal's managers may set them. That the deployer is the identity applying the stack is
checked before a deploy (`infra/deploy.py`), never in the plan: a pull request's plan runs
as the read-only planner and must pass.
"""

from __future__ import annotations

from cdktn_provider_databricks.data_databricks_service_principal import DataDatabricksServicePrincipal
from constructs import Construct

from infra.props import EnvironmentProps


class EnvironmentIdentity(Construct):
    def __init__(self, scope: Construct, id_: str, props: EnvironmentProps):
        super().__init__(scope, id_)
        identities = props.deployment.identities()
        self.principals = {
            role: DataDatabricksServicePrincipal(self, role, application_id=identity.application_id)
            for role, identity in identities.items()
        }

    def _id(self, role: str) -> str | None:
        found = self.principals.get(role)
        return found.application_id if found else None

    @property
    def job_identity(self) -> str | None:
        """The run-as principal's application id, as a reference (None: the jobs run as the deployer)."""
        return self._id("run_as")

    @property
    def deployer_identity(self) -> str | None:
        return self._id("deployer")

    @property
    def planner_identity(self) -> str | None:
        return self._id("planner")
