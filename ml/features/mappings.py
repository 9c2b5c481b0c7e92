"""The computed features must match configs/features/feature_mappings.yml exactly:
every computed feature in one group, every mapped feature computed."""

from __future__ import annotations

from pathlib import Path

import yaml

from ml.config.feature_models import FeatureMappings
from ml.errors import ConfigError
from ml.features.definitions import catalogue


def _listed(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")


def check(computed: list[str], mappings: FeatureMappings, file: str = "feature_mappings.yml") -> None:
    mapped = mappings.group_of()
    unmapped = [name for name in computed if name not in mapped]
    if unmapped:
        raise ConfigError(
            f"{file}: {len(unmapped)} computed features are in no group: {_listed(unmapped)} "
            "(hrob features mappings --write adds them)"
        )
    never = [name for name in mapped if name not in set(computed)]
    if never:
        raise ConfigError(f"{file}: {len(never)} mapped features are never computed: {_listed(never)}")


def merged(mappings: FeatureMappings | None, windows: list[int]) -> dict[str, list[str]]:
    """The mapping file's groups with new features added to their default group and
    features no longer computed removed; existing assignments are kept."""
    features = catalogue(windows)
    computed = {f.name for f in features}
    groups: dict[str, list[str]] = {}
    if mappings:
        for group, names in mappings.groups.items():
            kept = [n for n in names if n in computed]
            if kept:
                groups[group] = kept
    placed = {n for names in groups.values() for n in names}
    for f in features:
        if f.name not in placed:
            groups.setdefault(f.group, []).append(f.name)
    return groups


def write(path: Path, groups: dict[str, list[str]]) -> None:
    header = (
        "# Every feature the feature job computes, each in exactly one group. Feature\n"
        "# selection (keep: groups) and imputation (groups:) refer to these groups.\n"
        "# `hrob features mappings --write` adds new features to their default group.\n"
    )
    path.write_text(header + yaml.safe_dump({"groups": groups}, sort_keys=False, width=120))
