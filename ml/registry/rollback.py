"""`hrob model rollback`: move `champion` back to `previous_champion`, and record on both
versions who did it, when and why. One step back only: the alias is cleared, so a second
rollback refuses rather than bring back the model that was just rolled back."""

from __future__ import annotations

import getpass
import os
import socket
from datetime import UTC, datetime
from typing import Any

from ml.errors import DataError
from ml.registry import client as registry


def who() -> str:
    """The person behind the rollback: Azure Pipelines' requester in CI, else user@host."""
    requested = os.environ.get("BUILD_REQUESTEDFOREMAIL") or os.environ.get("BUILD_REQUESTEDFOR")
    return requested or f"{getpass.getuser()}@{socket.gethostname()}"


def rollback(model_name: str, reason: str, by: str | None = None, at: datetime | None = None) -> dict[str, Any]:
    reason = " ".join(reason.split())
    if not reason:
        raise DataError("a rollback needs a reason: --reason 'what went wrong'")
    champion = registry.by_alias(model_name, registry.CHAMPION)
    previous = registry.by_alias(model_name, registry.PREVIOUS_CHAMPION)
    if champion is None:
        raise DataError(f"model {model_name} has no champion to roll back")
    c = registry.client()
    if previous is None or str(previous.version) == str(champion.version):
        if previous is not None:  # an interrupted rollback: finish it
            c.delete_registered_model_alias(model_name, registry.PREVIOUS_CHAMPION)
        raise DataError(
            f"model {model_name} has no previous champion to return to (champion v{champion.version}): "
            "rollback goes one promotion back, once"
        )
    bad, good = str(champion.version), str(previous.version)
    by = by or who()
    at_text = (at or datetime.now(UTC)).isoformat(timespec="seconds")
    c.set_registered_model_alias(model_name, registry.CHAMPION, good)
    c.delete_registered_model_alias(model_name, registry.PREVIOUS_CHAMPION)
    registry.set_tags(
        model_name,
        bad,
        {"rolled_back_by": by, "rolled_back_at": at_text, "rolled_back_reason": reason, "rolled_back_to": good},
    )
    registry.set_tags(
        model_name,
        good,
        {"restored_by": by, "restored_at": at_text, "restored_reason": reason, "restored_from": bad},
    )
    for version, line in (
        (bad, f"Rolled back by {by} at {at_text} (champion returned to v{good}): {reason}"),
        (good, f"Restored as champion by {by} at {at_text}, replacing v{bad}: {reason}"),
    ):
        current = registry.version(model_name, version).description or ""
        c.update_model_version(model_name, version, description=f"{current}\n\n{line}".strip())
    return {"model": model_name, "champion_version": good, "rolled_back_version": bad, "by": by, "at": at_text}
