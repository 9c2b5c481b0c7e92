"""Thin helpers over MLflow's registry client: aliases, tags, versions.

Locally the registry is the SQLite store under HROB_HOME; on Databricks, Unity Catalog.
Names are the three-level `<catalog>.<schema>.<model>` in both.

"Not there" and "no answer" are different: a model, version or alias that does not exist
reads as None (or no versions); a registry that cannot be reached, or refuses, is a
one-line ModelError naming it, so nothing acts on an empty answer that was not one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from ml.errors import ModelError
from ml.runtime.remote import TIMEOUT_VARIABLE, timeout, unreachable

CHAMPION, CHALLENGER = "champion", "challenger"
PREVIOUS_CHAMPION = "previous_champion"  # set by promotion, used by rollback
SPLIT_SEED_TAG = "split_seed"  # on every version: the member split it was trained on


T = TypeVar("T")
ABSENT_CODES = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}


def client() -> MlflowClient:
    return MlflowClient()


def absent(error: MlflowException) -> bool:
    """The registry answered that the model, version or alias does not exist."""
    code = getattr(error, "error_code", "")
    return code in ABSENT_CODES or (code == "INVALID_PARAMETER_VALUE" and "not found" in str(error).lower())


def registry_error(error: Exception, what: str) -> ModelError:
    """One line for a registry that did not answer, or refused."""
    import mlflow

    where = mlflow.get_registry_uri()
    reason = unreachable(error)
    if reason is not None:
        return ModelError(
            f"the model registry {where} is unreachable ({reason}, {timeout():.0f}s per request) while reading "
            f"{what}: check the network and the Azure CLI session (az login); {TIMEOUT_VARIABLE} sets the wait"
        )
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return ModelError(f"the model registry {where} refused reading {what}: {first[:300]}")


def read(action: Callable[[], T], what: str, missing: T) -> T:
    """`action`'s answer; `missing` when the registry says it does not exist."""
    try:
        return action()
    except MlflowException as error:
        if absent(error):
            return missing
        raise registry_error(error, what) from None
    except (OSError, ValueError) as error:  # requests' and the Databricks SDK's own
        raise registry_error(error, what) from None


def by_alias(name: str, alias: str) -> ModelVersion | None:
    return read(lambda: client().get_model_version_by_alias(name, alias), f"{name}@{alias}", None)


def version(name: str, number: str | int) -> ModelVersion | None:
    return read(lambda: client().get_model_version(name, str(number)), f"{name} v{number}", None)


def versions(name: str) -> list[ModelVersion]:
    """Every version of `name` with its tags (Unity Catalog's search returns none: each
    version is read on its own); none when the model does not exist."""
    found = read(lambda: client().search_model_versions(f"name='{name}'"), f"the versions of {name}", [])
    return [v for v in (version(name, f.version) for f in found) if v is not None]


def set_tags(name: str, number: str | int, tags: dict[str, Any]) -> None:
    c = client()
    for key, value in tags.items():
        c.set_model_version_tag(name, str(number), key, str(value))


def register(model_uri: str, name: str, run_id: str, tags: dict[str, Any], description: str) -> str:
    """A new version of `name` from a logged model, tagged with its run, aliased challenger."""
    import mlflow

    c = client()
    if read(lambda: c.get_registered_model(name), name, None) is None:
        c.create_registered_model(name, description="HROB risk: composite high-risk pregnancy label")
    registered = mlflow.register_model(model_uri, name, tags={"run_id": run_id, **{k: str(v) for k, v in tags.items()}})
    c.update_model_version(name, registered.version, description=description)
    c.set_registered_model_alias(name, CHALLENGER, registered.version)
    return str(registered.version)
