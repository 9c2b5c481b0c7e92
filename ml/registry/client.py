"""Thin helpers over MLflow's registry client: aliases, tags, versions.

Locally the registry is the SQLite store under HROB_HOME; on Databricks, Unity Catalog.
Names are the three-level `<catalog>.<schema>.<model>` in both.
"""

from __future__ import annotations

from typing import Any

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

CHAMPION, CHALLENGER = "champion", "challenger"
PREVIOUS_CHAMPION = "previous_champion"  # set by promotion, used by rollback
SPLIT_SEED_TAG = "split_seed"  # on every version: the member split it was trained on


def client() -> MlflowClient:
    return MlflowClient()


def by_alias(name: str, alias: str) -> ModelVersion | None:
    try:
        return client().get_model_version_by_alias(name, alias)
    except MlflowException:  # no such model, or the alias is not set
        return None


def version(name: str, number: str | int) -> ModelVersion | None:
    try:
        return client().get_model_version(name, str(number))
    except MlflowException:
        return None


def versions(name: str) -> list[ModelVersion]:
    """Every version of `name` with its tags (Unity Catalog's search returns none: each
    version is read on its own); none when the model does not exist."""
    try:
        found = client().search_model_versions(f"name='{name}'")
    except MlflowException:
        return []
    return [v for v in (version(name, f.version) for f in found) if v is not None]


def set_tags(name: str, number: str | int, tags: dict[str, Any]) -> None:
    c = client()
    for key, value in tags.items():
        c.set_model_version_tag(name, str(number), key, str(value))


def register(model_uri: str, name: str, run_id: str, tags: dict[str, Any], description: str) -> str:
    """A new version of `name` from a logged model, tagged with its run, aliased challenger."""
    import mlflow

    c = client()
    try:
        c.get_registered_model(name)
    except MlflowException:
        c.create_registered_model(name, description="HROB risk: composite high-risk pregnancy label")
    registered = mlflow.register_model(model_uri, name, tags={"run_id": run_id, **{k: str(v) for k, v in tags.items()}})
    c.update_model_version(name, registered.version, description=description)
    c.set_registered_model_alias(name, CHALLENGER, registered.version)
    return str(registered.version)
