"""The Azure resources the project owns in one environment, and their Databricks side:
an ADLS Gen2 account for the environment's Unity Catalog schema (through an access
connector, a storage credential and an external location) and a Key Vault behind a
Databricks secret scope. Part of the bootstrap stack: creating a storage credential, an
external location and a Key Vault-backed secret scope, and assigning Azure roles, needs
rights the deployer does not have.

The resource group is the platform team's (adopted, not created). Role assignments take a
while to reach the storage service, and Databricks validates an external location when it
is created, so the location waits for its connector's assignment and for that to
propagate. The account's firewall denies by default and admits the access connector, the
workspace's VNet-injected subnets (classic job clusters) and the network connectivity
configuration's subnets (serverless compute: the predictions monitor's refreshes); the
azurerm provider manages it through Azure Resource Manager only
(`features.storage.data_plane_available = false`), never its data plane, which the
firewall closes to a hosted agent."""

from __future__ import annotations

from cdktn import TerraformResourceLifecycle
from cdktn_provider_azurerm.data_azurerm_client_config import DataAzurermClientConfig
from cdktn_provider_azurerm.data_azurerm_resource_group import DataAzurermResourceGroup
from cdktn_provider_azurerm.databricks_access_connector import (
    DatabricksAccessConnector,
    DatabricksAccessConnectorIdentity,
)
from cdktn_provider_azurerm.key_vault import KeyVault, KeyVaultNetworkAcls
from cdktn_provider_azurerm.monitor_diagnostic_setting import (
    MonitorDiagnosticSetting,
    MonitorDiagnosticSettingEnabledLog,
)
from cdktn_provider_azurerm.role_assignment import RoleAssignment
from cdktn_provider_azurerm.storage_account import (
    StorageAccount,
    StorageAccountBlobProperties,
    StorageAccountBlobPropertiesContainerDeleteRetentionPolicy,
    StorageAccountBlobPropertiesDeleteRetentionPolicy,
    StorageAccountNetworkRules,
    StorageAccountNetworkRulesPrivateLinkAccess,
    StorageAccountSasPolicy,
)
from cdktn_provider_azurerm.storage_container import StorageContainer
from cdktn_provider_databricks.external_location import ExternalLocation
from cdktn_provider_databricks.secret_acl import SecretAcl
from cdktn_provider_databricks.secret_scope import SecretScope, SecretScopeKeyvaultMetadata
from cdktn_provider_databricks.storage_credential import (
    StorageCredential,
    StorageCredentialAzureManagedIdentity,
)
from cdktn_provider_time.sleep import Sleep
from constructs import Construct

from infra.props import EnvironmentProps

CONTAINER = "hrob"
RETENTION_DAYS = 30
# Azure RBAC assignments can take minutes to reach the data plane; Databricks checks an
# external location's access when it is created.
ROLE_PROPAGATION = "120s"


class ProjectStorage(Construct):
    def __init__(self, scope: Construct, id_: str, props: EnvironmentProps, job_identity: str | None):
        super().__init__(scope, id_)
        azure = props.deployment.azure
        location = props.platform.azure_location
        lifecycle = TerraformResourceLifecycle(prevent_destroy=True) if props.deployment.prevent_destroy else None
        client = DataAzurermClientConfig(self, "client")

        group = DataAzurermResourceGroup(self, "resource_group", name=azure.resource_group_name)
        connector = DatabricksAccessConnector(
            self,
            "access_connector",
            name=f"{props.prefix}-access-connector",
            resource_group_name=group.name,
            location=location,
            identity=DatabricksAccessConnectorIdentity(type="SystemAssigned"),
            tags=props.tags,
        )
        account = StorageAccount(
            self,
            "storage_account",
            name=azure.storage_account_name,
            resource_group_name=group.name,
            location=location,
            account_kind="StorageV2",
            account_tier="Standard",
            account_replication_type="GZRS",
            is_hns_enabled=True,  # ADLS Gen2, which Unity Catalog managed storage needs
            https_traffic_only_enabled=True,
            min_tls_version="TLS1_2",
            allow_nested_items_to_be_public=False,
            shared_access_key_enabled=False,  # Entra ID only
            default_to_oauth_authentication=True,
            local_user_enabled=False,
            infrastructure_encryption_enabled=True,
            cross_tenant_replication_enabled=False,
            sas_policy=StorageAccountSasPolicy(expiration_period="0.01:00:00", expiration_action="Block"),
            blob_properties=StorageAccountBlobProperties(
                delete_retention_policy=StorageAccountBlobPropertiesDeleteRetentionPolicy(days=RETENTION_DAYS),
                container_delete_retention_policy=StorageAccountBlobPropertiesContainerDeleteRetentionPolicy(
                    days=RETENTION_DAYS
                ),
            ),
            # Only Databricks reaches the data: through its access connector, and from the
            # workspace's compute (its subnets, the serverless connectivity's subnets).
            network_rules=StorageAccountNetworkRules(
                default_action="Deny",
                bypass=["AzureServices"],
                private_link_access=[StorageAccountNetworkRulesPrivateLinkAccess(endpoint_resource_id=connector.id)],
                virtual_network_subnet_ids=[
                    *props.platform.workspace_subnet_ids,
                    *props.platform.serverless_subnet_ids,
                ],
            ),
            tags=props.tags,
            lifecycle=lifecycle,
        )
        # Every read, write and delete of member data is logged to the platform's workspace.
        self._audit(props, "storage_audit", f"{account.id}/blobServices/default")
        container = StorageContainer(
            self, "container", name=CONTAINER, storage_account_id=account.id, container_access_type="private"
        )
        connector_access = RoleAssignment(
            self,
            "connector_writes_data",
            scope=account.id,
            role_definition_name="Storage Blob Data Contributor",
            principal_id=connector.identity.principal_id,
            principal_type="ServicePrincipal",
        )
        credential = StorageCredential(
            self,
            "storage_credential",
            name=f"{props.prefix}-credential",
            azure_managed_identity=StorageCredentialAzureManagedIdentity(access_connector_id=connector.id),
            comment=f"HROB {props.env}: the access connector of {azure.storage_account_name}",
        )
        self.root_url = f"abfss://{CONTAINER}@{azure.storage_account_name}.dfs.core.windows.net/{props.env}"
        self.external_location = ExternalLocation(
            self,
            "external_location",
            name=f"{props.prefix}-data",
            url=self.root_url,
            credential_name=credential.name,
            comment=f"HROB {props.env}: managed storage of {props.catalog}.{props.schema}",
            depends_on=[
                container,
                Sleep(
                    self,
                    "connector_access_propagates",
                    create_duration=ROLE_PROPAGATION,
                    triggers={"role_assignment": connector_access.id},
                ),
            ],
        )

        vault = KeyVault(
            self,
            "key_vault",
            name=azure.key_vault_name,
            resource_group_name=group.name,
            location=location,
            tenant_id=client.tenant_id,
            sku_name="standard",
            rbac_authorization_enabled=True,
            purge_protection_enabled=True,
            soft_delete_retention_days=90,
            network_acls=KeyVaultNetworkAcls(default_action="Deny", bypass="AzureServices"),
            tags=props.tags,
            lifecycle=lifecycle,
        )
        self._audit(props, "key_vault_audit", vault.id)
        secrets_access = RoleAssignment(
            self,
            "databricks_reads_secrets",
            scope=vault.id,
            role_definition_name="Key Vault Secrets User",
            principal_id=props.platform.azure_databricks_object_id,
            principal_type="ServicePrincipal",
        )
        self.secret_scope = SecretScope(
            self,
            "secret_scope",
            name=props.prefix,
            backend_type="AZURE_KEYVAULT",
            keyvault_metadata=SecretScopeKeyvaultMetadata(resource_id=vault.id, dns_name=vault.vault_uri),
            depends_on=[secrets_access],
        )
        # The identity jobs run as reads the secrets: the service principal, or in dev the
        # developers (the data-science group).
        SecretAcl(
            self,
            "secret_reader",
            scope=self.secret_scope.name,
            principal=job_identity or props.platform.data_science_group,
            permission="READ",
        )

    def _audit(self, props: EnvironmentProps, id_: str, target: str) -> None:
        MonitorDiagnosticSetting(
            self,
            id_,
            name=f"{props.prefix}-audit",
            target_resource_id=target,
            log_analytics_workspace_id=props.platform.log_analytics_workspace_id,
            enabled_log=[MonitorDiagnosticSettingEnabledLog(category_group="audit")],
        )
