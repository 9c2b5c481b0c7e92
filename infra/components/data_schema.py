"""The environment's Unity Catalog schema (its tables and model live here) and the
grants around it.

The schema belongs to the deployer that creates it. Its grants are authoritative (the
stack's list is the whole list): the data-science group as configured, the jobs' run-as
principal what the jobs need (read and write tables, run the model), the planner enough
to read. Outside the schema only additive grants: the run-as principal and the planner
may use the catalog, and the run-as principal may read the source tables. Nobody is
granted anything on the metastore or on another environment's schema.
"""

from __future__ import annotations

from cdktn import TerraformResourceLifecycle
from cdktn_provider_databricks.grant import Grant
from cdktn_provider_databricks.grants import Grants, GrantsGrant
from cdktn_provider_databricks.schema import Schema
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
PLANNER_PRIVILEGES = ["USE_SCHEMA"]


class DataSchema(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        props: EnvironmentProps,
        job_identity: str | None,
        planner: str | None,
        storage_root: str,
        depends_on: list,
    ):
        super().__init__(scope, id_)
        group = props.platform.data_science_group
        lifecycle = TerraformResourceLifecycle(prevent_destroy=True) if props.deployment.prevent_destroy else None
        self.schema = Schema(
            self,
            "schema",
            catalog_name=props.catalog,
            name=props.schema,
            storage_root=storage_root,
            comment=f"HROB risk model, {props.env}: feature tables, predictions, outreach list, model.",
            properties={"project": "hrob", "environment": props.env},
            lifecycle=lifecycle,
            depends_on=depends_on,
        )
        self.full_name = f"{props.catalog}.{props.schema}"
        grants = [GrantsGrant(principal=group, privileges=GROUP_PRIVILEGES[props.deployment.data_science_access])]
        if job_identity:
            grants.append(GrantsGrant(principal=job_identity, privileges=RUN_AS_PRIVILEGES))
        if planner:
            grants.append(GrantsGrant(principal=planner, privileges=PLANNER_PRIVILEGES))
        Grants(self, "schema_grants", schema=self.schema.id, grant=grants)

        # Additive grants: the catalogs and the source schema belong to the data platform.
        source_catalog, _ = props.source_schema.split(".")
        readers = [("planner", planner, ["USE_CATALOG", "BROWSE"])] if planner else []
        if job_identity:
            readers.append(("run_as", job_identity, ["USE_CATALOG"]))
            if source_catalog != props.catalog:
                Grant(
                    self,
                    "run_as_source_catalog",
                    principal=job_identity,
                    catalog=source_catalog,
                    privileges=["USE_CATALOG"],
                )
            Grant(
                self,
                "run_as_reads_sources",
                principal=job_identity,
                schema=props.source_schema,
                privileges=["USE_SCHEMA", "SELECT"],
            )
        for name, principal, privileges in readers:
            Grant(self, f"{name}_catalog", principal=principal, catalog=props.catalog, privileges=privileges)
