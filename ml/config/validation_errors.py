"""Turning pydantic's ValidationError into one line: file, key path, problem."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic import BaseModel, ValidationError

# Discriminator tags pydantic adds to an error's location; users never wrote them.
_UNION_TAGS = {"uniform", "loguniform", "quniform", "qloguniform", "choice"}


def key_path(loc: Iterable[str | int]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _UNION_TAGS or part.startswith("function-"):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys a model accepts at the parent of `loc`, for did-you-mean hints."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None or isinstance(part, int):
            return []
        field = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        annotation = getattr(field, "annotation", None)
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    if current is None:
        return []
    return [f.alias or name for name, f in current.model_fields.items()]


def describe(error: dict, model: type[BaseModel]) -> str:
    kind, msg, loc = error["type"], error["msg"], tuple(error["loc"])
    if kind == "extra_forbidden":
        hint = difflib.get_close_matches(str(loc[-1]), _known_keys(model, loc), n=1)
        suffix = f" (did you mean '{hint[0]}'?)" if hint else ""
        return f"unknown key{suffix}"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        expected = error.get("ctx", {}).get("expected_tags", "")
        return f"unknown type '{error['input'].get('type')}' (expected one of {expected})"
    if kind == "union_tag_not_found":
        return "missing 'type' key"
    if msg.startswith("Value error, "):
        return msg.removeprefix("Value error, ")
    text = msg[0].lower() + msg[1:]
    value = error.get("input")
    if value is not None and not isinstance(value, dict | list):
        text += f" (got {value!r})"
    return text


def one_line(error: ValidationError, model: type[BaseModel], file: str, prefix: str = "") -> str:
    errors = error.errors()
    first = errors[0]
    path = key_path(first["loc"])
    if prefix:
        path = f"{prefix}.{path}" if path != "(top level)" else prefix
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{file}: {path}: {describe(first, model)}{more}"
