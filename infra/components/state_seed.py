"""An empty Terraform state for the application stack, written by the bootstrap.

Before an environment's first deploy its application state does not exist, and a plan
would make the azurerm backend create and lease one: the read-only planner cannot, so no
pull request could plan (and a required plan would block the merge that deploys). The
bootstrap writes an empty state (version 4, no resources) where the application stack
keeps its own, once: the blob is never rewritten (`ignore_changes`), and creating it
where a state exists fails instead of overwriting it. The blob is written through the
storage data plane, so this resource has a provider of its own (`state`) that may use it:
the platform's state account, not the project's, which the firewall closes."""

from __future__ import annotations

import json
import uuid

from cdktn import TerraformResourceLifecycle
from cdktn_provider_azurerm.data_azurerm_storage_account import DataAzurermStorageAccount
from cdktn_provider_azurerm.provider import AzurermProvider
from cdktn_provider_azurerm.storage_blob import StorageBlob
from constructs import Construct

from infra.props import EnvironmentProps


def empty_state(props: EnvironmentProps) -> str:
    """An empty version-4 state for the application stack; its lineage is fixed by the
    environment, so synthesis stays deterministic."""
    lineage = str(uuid.uuid5(uuid.NAMESPACE_URL, f"hrob/{props.env}/{props.state_key}"))
    return json.dumps(
        {
            "version": 4,
            "terraform_version": props.platform.terraform_version,
            "serial": 0,
            "lineage": lineage,
            "outputs": {},
            "resources": [],
        }
    )


class StateSeed(Construct):
    def __init__(self, scope: Construct, id_: str, props: EnvironmentProps, provider: AzurermProvider):
        super().__init__(scope, id_)
        backend = props.platform.state_backend
        account = DataAzurermStorageAccount(
            self,
            "state_account",
            provider=provider,
            name=backend.storage_account_name,
            resource_group_name=backend.resource_group_name,
        )
        self.blob = StorageBlob(
            self,
            "application_state",
            provider=provider,
            name=props.state_key,
            storage_container_id=f"{account.id}/blobServices/default/containers/{props.deployment.state_container}",
            type="Block",
            content_type="application/json",
            source_content=empty_state(props),
            lifecycle=TerraformResourceLifecycle(ignore_changes=["source_content", "content_md5"]),
        )
