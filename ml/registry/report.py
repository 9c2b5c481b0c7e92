"""What the registry says about an environment's model: the champion, the newest version
and its validation decision. CI prints it after the staging training job."""

from __future__ import annotations

from typing import Any

from ml.errors import DataError
from ml.registry import client as registry


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def model_report(model_name: str) -> dict[str, Any]:
    versions = registry.read(
        lambda: registry.client().search_model_versions(f"name = '{model_name}'"), f"the versions of {model_name}", []
    )
    if not versions:
        raise DataError(f"model {model_name} has no registered version")
    newest = max(versions, key=lambda v: int(v.version))
    champion = registry.by_alias(model_name, registry.CHAMPION)
    tags = newest.tags or {}
    return {
        "model": model_name,
        "newest_version": str(newest.version),
        "champion_version": str(champion.version) if champion else None,
        "decision": tags.get("validation_outcome", "not validated"),
        "promoted": tags.get("promoted") == "true",
        "challenger_auroc": _number(tags.get("challenger_auroc")),
        "champion_auroc": _number(tags.get("champion_auroc")),
    }
