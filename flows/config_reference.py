"""The configuration reference (docs/configuration.md), generated from the settings models.

`python -m flows.config_reference > docs/configuration.md` rewrites it; a test fails when the
file and the models disagree, so the reference cannot drift from the code.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from flows.settings import RulesSettings, Settings
from transforms.rules import RULES

__all__ = ["reference", "rows"]

HEADER = """# Configuration reference

Every key of `shoppulse.yaml`, generated from the settings models by
`python -m flows.config_reference` (a test keeps this file and the code equal). Unknown keys
are errors that name the key; `${VAR}` reads the environment (or a Prefect Secret block when
deployed); secret values are shown as `**********` by `shoppulse check-config`. Relative paths
are taken from the config file's folder.
"""


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type(a) for a in args) + (
            " or none" if type(None) in typing.get_args(annotation) else ""
        )
    if origin in (tuple, list):
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        return f"map of {_type(args[0])} to {_type(args[1])}" if args else "map"
    if isinstance(annotation, type):
        if issubclass(annotation, SecretStr):
            return "secret string"
        if issubclass(annotation, BaseModel):
            return "section"
        if issubclass(annotation, enum.Enum):
            return " \\| ".join(f"`{m.value}`" for m in annotation)
        return {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}.get(
            annotation, annotation.__name__
        )
    return str(annotation)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if value is None or value == () or value == {}:
        return "—"
    if isinstance(value, BaseModel):
        return ""
    if isinstance(value, tuple):
        return ", ".join(f"`{v}`" for v in value)
    if isinstance(value, enum.Enum):
        value = value.value
    return f"`{value}`"


def _model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        inner = _model(arg)
        if inner is not None:
            return inner
    return None


def rows(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[tuple[str, ...]]:
    """(key, type, default, meaning) for every key under `model`, depth first."""
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        nested = _model(field.annotation)
        many = typing.get_origin(field.annotation) in (tuple, list)
        doc = field.description or ""
        if nested is not None:
            doc = doc or (nested.__doc__ or "").strip().replace("\n", " ")
            yield key + ("[]" if many else ""), _type(field.annotation), _default(field), doc
            yield from rows(nested, f"{key}[]." if many else f"{key}.")
        else:
            yield key, _type(field.annotation), _default(field), doc


def reference() -> str:
    """The whole docs/configuration.md text."""
    lines = [HEADER, "| key | type | default | meaning |", "|---|---|---|---|"]
    for key, kind, default, doc in rows():
        lines.append(f"| `{key}` | {kind} | {default} | {doc} |")
    lines += ["", "## Rules", ""]
    lines += [
        f"- `rules.{r.alertname}` — {' '.join(r.doc.split())}"
        for r in RULES
        if r.alertname in RulesSettings.model_fields
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
