"""Who may do what inside the environment's Unity Catalog schema (its tables and model).

The schema itself, its storage and the grants outside it (catalogs, the data platform's
source schema) come from the bootstrap stack (infra/components/environment_access.py),
which hands the schema to the deployer: as its owner the deployer may grant privileges on
the schema and everything in it, itself included. These grants are authoritative (the
list is the whole list): the data-science group as configured, the jobs' run-as principal
what the jobs need (read and write tables, run the model), the deployer what its own
resources need (the predictions monitor reads the predictions table), the operations
group enough to read the model, the planner enough to look.
"""

from __future__ import annotations

from cdktn_provider_databricks.data_databricks_schema import DataDatabricksSchema
from cdktn_provider_databricks.grants import Grants, GrantsGrant
from constructs import Construct

from infra.props import EnvironmentProps

# What the data-science group may do in a schema it manages, or only views.
GROUP_PRIVILEGES = {
    "manage": ["ALL_PRIVILEGES"],
    "view": ["USE_SCHEMA", "SELECT", "EXECUTE"],
}
# What the jobs do in their own schema: write feature, prediction and monitoring tables
# and load the model.
RUN_AS_PRIVILEGES = ["USE_SCHEMA", "SELECT", "MODIFY", "CREATE_TABLE", "EXECUTE"]
# The schema's owner: the monitor it creates reads the predictions table (an owner has no
# privilege on the tables in its schema until it grants itself one).
DEPLOYER_PRIVILEGES = ["USE_SCHEMA", "SELECT"]
OPERATIONS_PRIVILEGES = ["USE_SCHEMA"]
PLANNER_PRIVILEGES = ["USE_SCHEMA"]


class SchemaGrants(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        props: EnvironmentProps,
        job_identity: str | None,
        deployer: str | None,
        planner: str | None,
        depends_on: list,
    ):
        super().__init__(scope, id_)
        self.full_name = f"{props.catalog}.{props.schema}"
        self.schema = DataDatabricksSchema(self, "schema", name=self.full_name, depends_on=depends_on)
        group = props.platform.data_science_group
        grants = [
            GrantsGrant(principal=group, privileges=GROUP_PRIVILEGES[props.deployment.data_science_access]),
            GrantsGrant(principal=props.platform.operations_group, privileges=OPERATIONS_PRIVILEGES),
        ]
        if job_identity:
            grants.append(GrantsGrant(principal=job_identity, privileges=RUN_AS_PRIVILEGES))
        if deployer:
            grants.append(GrantsGrant(principal=deployer, privileges=DEPLOYER_PRIVILEGES))
        if planner:
            grants.append(GrantsGrant(principal=planner, privileges=PLANNER_PRIVILEGES))
        self.grants = Grants(self, "schema_grants", schema=self.full_name, grant=grants)
