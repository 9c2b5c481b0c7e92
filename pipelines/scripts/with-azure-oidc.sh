#!/usr/bin/env bash
# Run a command with the service connection's federated identity (AzureCLI@2 with
# addSpnToEnvironment) exported the way Terraform's providers and the Databricks
# scripts read it. No secret is stored anywhere: the OIDC token lives for this step.
#   pipelines/scripts/with-azure-oidc.sh make deploy ENV=staging
set -euo pipefail
: "${servicePrincipalId:?run inside AzureCLI@2 with addSpnToEnvironment: true}"
export ARM_CLIENT_ID="$servicePrincipalId"
export ARM_TENANT_ID="$tenantId"
export ARM_OIDC_TOKEN="$idToken"
export ARM_USE_OIDC=true
ARM_SUBSCRIPTION_ID="$(az account show --query id -o tsv)"
export ARM_SUBSCRIPTION_ID
# An Entra ID token for the Azure Databricks resource, for the Jobs API scripts.
DATABRICKS_TOKEN="$(az account get-access-token --resource 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d \
  --query accessToken -o tsv)"
export DATABRICKS_TOKEN
exec "$@"
