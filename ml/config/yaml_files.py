"""Reading YAML files with errors that name the file and line.

Duplicate keys are refused: PyYAML silently keeps the last one, which hides edits.

A value tagged `!site` is an example of something each installation has its own of (a
workspace host, an application id, a globally unique storage account name): it reads as
its plain value, so everything synthesizes and runs locally, and `site_placeholders`
lists where the tags are, so `hrob config check` and the deploy pre-flight can say what a
real deploy still needs replaced.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ml.errors import ConfigError


def display_path(path: Path) -> str:
    """The path as a user would type it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


class _StrictLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
SITE_TAG = "!site"


def _construct_site(loader: _StrictLoader, node: yaml.Node):
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return _construct_mapping(loader, node, deep=True)
    return loader.construct_scalar(node)


_StrictLoader.add_constructor(SITE_TAG, _construct_site)
# YAML 1.1 reads 2021-01 style strings fine but turns 2021-01-01 into a date; keep
# every scalar a plain string or number so the typed models decide.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_yaml(path: Path, *, required: bool = True) -> dict[str, Any]:
    """The mapping in a YAML file; an empty file is an empty mapping."""
    shown = display_path(path)
    if not path.is_file():
        if not required:
            return {}
        raise ConfigError(f"{shown}: file not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = error.problem or error.context or "invalid YAML"
        raise ConfigError(f"{shown}{line}: malformed YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{shown}: malformed YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def site_placeholders(path: Path) -> list[str]:
    """The key paths (`platform.workspace_host`, `deployment.deployer.application_id`) whose
    values are tagged `!site` in the YAML file `path`."""
    if not path.is_file():
        return []
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.YAMLError:
        return []  # read_yaml says what is wrong with the file
    found: list[str] = []

    def walk(node: yaml.Node, at: str) -> None:
        if node.tag == SITE_TAG:
            found.append(at)
            return
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, f"{at}.{key.value}" if at else str(key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{at}[{i}]")

    if root is not None:
        walk(root, "")
    return found
