"""The environment's Unity Catalog schema (its tables and model live here) and the
grants around it: its own schema, plus read access to the source tables."""

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


class DataSchema(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        props: EnvironmentProps,
        job_identity: str | None,
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
            owner=job_identity or group,
            storage_root=storage_root,
            comment=f"HROB risk model, {props.env}: feature tables, predictions, outreach list, model.",
            properties={"project": "hrob", "environment": props.env},
            lifecycle=lifecycle,
            depends_on=depends_on,
        )
        self.full_name = f"{props.catalog}.{props.schema}"
        Grants(
            self,
            "schema_grants",
            schema=self.full_name,
            grant=[GrantsGrant(principal=group, privileges=GROUP_PRIVILEGES[props.deployment.data_science_access])],
            depends_on=[self.schema],
        )
        if job_identity is None:
            return  # dev jobs run as developers, who read sources through their group's grants
        # Additive grants: the catalogs and source schema belong to the data platform.
        source_catalog, _ = props.source_schema.split(".")
        grants = [("use_catalog", {"catalog": props.catalog}, ["USE_CATALOG"])]
        if source_catalog != props.catalog:
            grants.append(("use_source_catalog", {"catalog": source_catalog}, ["USE_CATALOG"]))
        grants.append(("read_sources", {"schema": props.source_schema}, ["USE_SCHEMA", "SELECT"]))
        for name, securable, privileges in grants:
            Grant(self, name, principal=job_identity, privileges=privileges, **securable)
