"""The `promote` task: move `champion` to the challenger when its validation says so;
clear `challenger` once decided; the champion it replaces becomes `previous_champion`.
On any other outcome the champion is left alone."""

from __future__ import annotations

from typing import Any

from ml.config.loader import Settings
from ml.errors import DataError
from ml.registry import client as registry
from ml.runtime.tracking import configure_mlflow


def run(settings: Settings, model_version: str) -> dict[str, Any]:
    name = settings.model_name
    configure_mlflow()
    found = registry.version(name, model_version)
    if found is None:
        raise DataError(f"model {name} has no version {model_version} to promote")
    tags = found.tags or {}
    if "validation_promote" not in tags:
        raise DataError(f"version {model_version} of {name} has no validation decision: run the validate task first")
    champion = registry.by_alias(name, registry.CHAMPION)
    previous = str(champion.version) if champion else None
    if previous == str(model_version):  # a retried task, or a second promote: nothing to do
        print(f"[promote] {name}: v{model_version} is already the champion; nothing changed", flush=True)
        return {"promoted": "false", "champion_version": previous}
    promote = tags["validation_promote"] == "true"
    validated_against = tags.get("validation_champion_version", "none")
    if promote and (previous or "none") != validated_against:
        # The champion moved (or appeared) since validation: the comparison no longer holds.
        now = f"v{previous}" if previous else "unset"
        raise DataError(
            f"the champion of {name} is {now}, but v{model_version} was validated against "
            f"{validated_against}: validate again"
        )
    c = registry.client()
    if promote:
        if previous:  # the way back: `hrob model rollback` restores it
            c.set_registered_model_alias(name, registry.PREVIOUS_CHAMPION, previous)
        c.set_registered_model_alias(name, registry.CHAMPION, str(model_version))
    challenger = registry.by_alias(name, registry.CHALLENGER)
    if challenger and str(challenger.version) == str(model_version):
        c.delete_registered_model_alias(name, registry.CHALLENGER)
    registry.set_tags(name, model_version, {"promoted": str(promote).lower()})
    champion_now = str(model_version) if promote else previous
    failed = (
        f"; failed: {tags['validation_failed_checks']}" if not promote and "validation_failed_checks" in tags else ""
    )
    print(
        f"[promote] {name}: {tags.get('validation_outcome', '')}{failed}; champion "
        f"{'v' + champion_now if champion_now else '(none)'}" + (f" (was v{previous})" if promote and previous else ""),
        flush=True,
    )
    return {"promoted": str(promote).lower(), "champion_version": champion_now or ""}
