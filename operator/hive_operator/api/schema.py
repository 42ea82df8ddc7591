"""Turn pydantic JSON Schema into a Kubernetes structural OpenAPI v3 schema.

Kubernetes wants every schema inline (no ``$ref``), no ``title``/``additionalProperties: false``
beside ``properties``, no ``anyOf`` with ``null`` for optional fields (absence is optional), and
defaults written out so that the API server fills them in. A nested object whose model has its own
defaults gets that model's default instance written out in full (not ``{}``): the API server checks
every CEL rule against each default when the CRD is created, and a rule that reads a field an
empty default lacks would make the real API server refuse the whole CRD.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

_DROPPED_KEYS = frozenset({"title", "$defs", "examples"})


class StructuralSchemaGenerator(GenerateJsonSchema):
    """Also emits defaults produced by ``default_factory`` (pydantic leaves them out)."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            value = factory()  # type: ignore[call-arg]
            if isinstance(value, BaseModel):
                return value.model_dump(mode="json", by_alias=True, exclude_none=True)
            return value
        return schema.get("default", NoDefault)


def model_openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of ``model``, inlined and cleaned for a CRD."""
    raw = model.model_json_schema(
        by_alias=True, mode="validation", schema_generator=StructuralSchemaGenerator
    )
    definitions = raw.get("$defs", {})
    return _structural(raw, definitions)


def _resolve(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in node:
        return node
    name = node["$ref"].rsplit("/", 1)[-1]
    merged: dict[str, Any] = copy.deepcopy(definitions[name])
    merged.update({key: value for key, value in node.items() if key != "$ref"})
    return merged


def _structural(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    node = _resolve(node, definitions)
    if "anyOf" in node:
        branches = [branch for branch in node["anyOf"] if branch.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"a CRD schema cannot express the union {node['anyOf']!r}")
        outer = {key: value for key, value in node.items() if key != "anyOf"}
        if outer.get("default", NoDefault) is None:
            outer.pop("default")
        node = {**_resolve(branches[0], definitions), **outer}
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "additionalProperties" and value is False:
            continue
        if key == "properties":
            result[key] = {name: _structural(child, definitions) for name, child in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            result[key] = _structural(value, definitions)
        elif key == "const":
            result["enum"] = [value]
        else:
            result[key] = value
    if "enum" in result and "type" not in result:
        result["type"] = "string"
    return result


def strip_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` without defaults (status is observed state: nothing is defaulted)."""
    cleaned = {key: value for key, value in schema.items() if key != "default"}
    if "properties" in cleaned:
        cleaned["properties"] = {name: strip_defaults(child) for name, child in cleaned["properties"].items()}
    if isinstance(cleaned.get("items"), dict):
        cleaned["items"] = strip_defaults(cleaned["items"])
    return cleaned
