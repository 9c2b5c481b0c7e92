"""Loading and cross-checking every configuration file into one Settings object.

Project settings come from configs/project.yml; an environment file may override
any of them under `overrides:`. Errors name the file, the key path and the problem.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ml.config.feature_models import FeatureMappings, FeatureSelection, Imputation, ImputationConfig
from ml.config.models import EnvironmentConfig, ProjectConfig
from ml.config.validation_errors import one_line
from ml.config.yaml_files import display_path, read_yaml, site_placeholders
from ml.errors import ConfigError
from ml.runtime.paths import config_dir as resolve_config_dir

PROJECT_FILE = "project.yml"
ENVIRONMENTS_DIR = "environments"
MAPPINGS_FILE = "features/feature_mappings.yml"
SELECTION_FILE = "features/feature_selection_config.yml"
IMPUTATION_FILE = "features/imputation.yml"


@dataclass(frozen=True)
class FeatureConfig:
    mappings: FeatureMappings
    selection: FeatureSelection
    imputation: ImputationConfig

    def selected(self) -> list[str]:
        """Features the model is trained on, in mapping order."""
        drop = set(self.selection.drop)
        return [
            feature for group in self.selection.keep for feature in self.mappings.groups[group] if feature not in drop
        ]

    def imputation_for(self, feature: str) -> Imputation:
        if feature in self.imputation.features:
            return self.imputation.features[feature]
        group = self.mappings.group_of().get(feature)
        return self.imputation.groups.get(group, self.imputation.default)


@dataclass(frozen=True)
class Settings:
    env: str
    project: ProjectConfig
    environment: EnvironmentConfig
    features: FeatureConfig
    config_dir: Path

    @property
    def namespace(self) -> str:
        """catalog.schema holding this environment's tables and model."""
        return f"{self.environment.catalog}.{self.environment.db_schema}"

    @property
    def model_name(self) -> str:
        """The registered model: a three-level Unity Catalog name."""
        return f"{self.namespace}.{self.project.model.name}"


def environments(config_dir: Path | None = None) -> list[str]:
    """The environments configured, by file name; a missing or empty folder is an error."""
    root = resolve_config_dir(config_dir)
    if not root.is_dir():
        raise ConfigError(f"{display_path(root)}: no such configuration directory (--config-dir or HROB_CONFIG_DIR)")
    names = sorted(p.stem for p in (root / ENVIRONMENTS_DIR).glob("*.yml"))
    if not names:
        raise ConfigError(f"{display_path(root / ENVIRONMENTS_DIR)}: no environment files (<env>.yml)")
    return names


def _validate(model: type[BaseModel], data: dict[str, Any], path: Path, prefix: str = ""):
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ConfigError(one_line(error, model, display_path(path), prefix)) from None


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_features(folder: Path) -> FeatureConfig:
    mappings_path = folder / MAPPINGS_FILE
    mappings = _validate(FeatureMappings, read_yaml(mappings_path), mappings_path)
    group_of = mappings.group_of()

    selection_path = folder / SELECTION_FILE
    selection = _validate(FeatureSelection, read_yaml(selection_path), selection_path)
    shown = display_path(selection_path)
    for i, group in enumerate(selection.keep):
        if group not in mappings.groups:
            raise ConfigError(f"{shown}: keep[{i}]: group '{group}' is not in {MAPPINGS_FILE}")
    for i, feature in enumerate(selection.drop):
        if feature not in group_of:
            raise ConfigError(f"{shown}: drop[{i}]: feature '{feature}' is not in {MAPPINGS_FILE}")

    imputation_path = folder / IMPUTATION_FILE
    imputation = _validate(ImputationConfig, read_yaml(imputation_path), imputation_path)
    shown = display_path(imputation_path)
    for group in imputation.groups:
        if group not in mappings.groups:
            raise ConfigError(f"{shown}: groups.{group}: not a group in {MAPPINGS_FILE}")
    for feature in imputation.features:
        if feature not in group_of:
            raise ConfigError(f"{shown}: features.{feature}: not a feature in {MAPPINGS_FILE}")
    return FeatureConfig(mappings, selection, imputation)


def _environment(env: str, folder: Path) -> tuple[ProjectConfig, EnvironmentConfig]:
    if not folder.is_dir():
        raise ConfigError(f"{display_path(folder)}: configuration directory not found")
    known = environments(folder)
    env_path = folder / ENVIRONMENTS_DIR / f"{env}.yml"
    if env not in known:
        raise ConfigError(
            f"unknown environment '{env}' (environments in {display_path(folder / ENVIRONMENTS_DIR)}: "
            f"{', '.join(known) or 'none'})"
        )
    project_path = folder / PROJECT_FILE
    project_raw = read_yaml(project_path)
    _validate(ProjectConfig, project_raw, project_path)
    environment = _validate(EnvironmentConfig, read_yaml(env_path), env_path)
    merged = deep_merge(project_raw, environment.overrides)
    return _validate(ProjectConfig, merged, env_path, prefix="overrides"), environment


def load_project(env: str, config_dir: str | Path | None = None) -> ProjectConfig:
    """Project settings with the environment's overrides, without the feature files."""
    return _environment(env, resolve_config_dir(config_dir))[0]


def load_settings(env: str, config_dir: str | Path | None = None) -> Settings:
    folder = resolve_config_dir(config_dir)
    project, environment = _environment(env, folder)
    features = load_features(folder)
    group_of = features.mappings.group_of()
    for i, name in enumerate(project.monitoring.population_features):
        if name not in group_of:
            shown = display_path(folder / PROJECT_FILE)
            raise ConfigError(
                f"{shown}: monitoring.population_features[{i}]: '{name}' is not a feature in {MAPPINGS_FILE}"
            )
    return Settings(env, project, environment, features, folder)


def placeholders(env: str, config_dir: str | Path | None = None) -> dict[str, list[str]]:
    """Per file an environment reads (project.yml, its own), the key paths still holding
    an example value (tagged !site): what a deploy needs replaced first."""
    folder = resolve_config_dir(config_dir)
    found = {}
    for path in (folder / PROJECT_FILE, folder / ENVIRONMENTS_DIR / f"{env}.yml"):
        keys = site_placeholders(path)
        if keys:
            found[display_path(path)] = keys
    return found


def placeholder_problem(env: str, config_dir: str | Path | None = None) -> str | None:
    """One line naming what must be replaced before `env` can be deployed, or None."""
    found = placeholders(env, config_dir)
    if not found:
        return None
    files = "; ".join(f"{path}: {', '.join(keys)}" for path, keys in found.items())
    count = sum(len(keys) for keys in found.values())
    return (
        f"{count} example value(s) tagged !site, which {env} cannot be deployed with ({files}): replace each "
        "with this installation's own and drop the tag (docs/deploy.md, first deploy)"
    )


def load_all(config_dir: str | Path | None = None) -> dict[str, Settings]:
    """Every environment's settings; the first error stops."""
    return {env: load_settings(env, config_dir) for env in environments(config_dir)}
