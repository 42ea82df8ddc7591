"""OpenAPI v3 structural schemas of CRDs: pruning, defaulting and validation with field paths.

Implements the subset CRDs use in practice: types, properties, required, enum, numeric and length
bounds, patterns, items, additionalProperties, nullable, ``x-kubernetes-preserve-unknown-fields``,
``x-kubernetes-int-or-string`` and CEL ``x-kubernetes-validations``. Causes carry the same
``field`` paths and reason names as the API server (``spec.replicas``, ``FieldValueRequired``).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from hive_testbed.api import cel_rules

Cause = dict[str, str]
_ROOT_KEYS = ("apiVersion", "kind", "metadata")
_MISSING = object()


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def prune_and_default(schema: dict[str, Any], value: Any, *, root: bool = False) -> Any:
    """Drop fields the schema does not know and fill defaults of missing properties (a new value)."""
    if isinstance(value, dict) and (schema.get("type") == "object" or "properties" in schema):
        properties: dict[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        keep_unknown = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        result: dict[str, Any] = {}
        for key, child in value.items():
            if root and key in _ROOT_KEYS:
                result[key] = child
            elif key in properties:
                if child is None and not properties[key].get("nullable"):
                    continue
                result[key] = prune_and_default(properties[key], child)
            elif isinstance(additional, dict):
                result[key] = prune_and_default(additional, child)
            elif keep_unknown or additional is True:
                result[key] = child
        for key, child_schema in properties.items():
            if key not in result and "default" in child_schema:
                result[key] = prune_and_default(child_schema, copy.deepcopy(child_schema["default"]))
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune_and_default(schema["items"], item) for item in value]
    return value


def unknown_fields(schema: dict[str, Any], value: Any, path: str = "", *, root: bool = True) -> list[str]:
    """Paths the schema would prune; reported instead of pruned under ``fieldValidation=Strict``."""
    found: list[str] = []
    if isinstance(value, dict) and (schema.get("type") == "object" or "properties" in schema):
        if schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
            return found
        properties: dict[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, child in value.items():
            if root and key in _ROOT_KEYS:
                continue
            if key in properties:
                found += unknown_fields(properties[key], child, _join(path, key), root=False)
            elif isinstance(additional, dict):
                found += unknown_fields(additional, child, _join(path, key), root=False)
            elif not (schema.get("x-kubernetes-preserve-unknown-fields") or additional is True):
                found.append(_join(path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += unknown_fields(schema["items"], item, f"{path}[{index}]", root=False)
    return found


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def validate(schema: dict[str, Any], value: Any, old: Any = _MISSING, *, path: str = "") -> list[Cause]:
    """All violations of ``schema`` by ``value`` (``old`` is the stored value, for transition rules)."""
    causes: list[Cause] = []
    _validate(schema, value, old, path, causes, root=True)
    return causes


def _validate(
    schema: dict[str, Any], value: Any, old: Any, path: str, causes: list[Cause], *, root: bool
) -> None:
    label = path or "<root>"
    if value is None:
        return  # nulls of non-nullable fields were pruned before validation
    expected = schema.get("type")
    actual = _type_of(value)
    if schema.get("x-kubernetes-int-or-string"):
        if actual not in ("integer", "string"):
            causes.append(_invalid(label, value, f"{label} in body must be of type integer-or-string"))
            return
    elif expected and not (expected == actual or (expected == "number" and actual == "integer")):
        causes.append(
            {
                "reason": "FieldValueTypeInvalid",
                "field": label,
                "message": f"Invalid value: {_show(value)}: {label} in body must be of type {expected}",
            }
        )
        return
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(_show(v) for v in schema["enum"])
        causes.append(
            {
                "reason": "FieldValueNotSupported",
                "field": label,
                "message": f"Unsupported value: {_show(value)}: supported values: {supported}",
            }
        )
    if actual in ("integer", "number"):
        _check_number(schema, value, label, causes)
    if actual == "string":
        _check_string(schema, value, label, causes)
    if actual == "array":
        if "minItems" in schema and len(value) < schema["minItems"]:
            causes.append(
                _invalid(label, value, f"{label} in body should have at least {schema['minItems']} items")
            )
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append(
                _invalid(label, value, f"{label} in body should have at most {schema['maxItems']} items")
            )
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                _validate(items, item, _MISSING, f"{label if path else ''}[{index}]", causes, root=False)
    if actual == "object":
        properties: dict[str, Any] = schema.get("properties") or {}
        for key in schema.get("required") or []:
            if key not in value:
                causes.append(
                    {"reason": "FieldValueRequired", "field": _join(path, key), "message": "Required value"}
                )
        additional = schema.get("additionalProperties")
        old_map = old if isinstance(old, dict) else {}
        for key, child in value.items():
            if root and key in _ROOT_KEYS:
                continue
            child_schema = properties.get(key) or (additional if isinstance(additional, dict) else None)
            if child_schema is not None:
                _validate(
                    child_schema, child, old_map.get(key, _MISSING), _join(path, key), causes, root=False
                )
    _check_rules(schema, value, old, label=label, path=path, causes=causes)


def _check_number(schema: dict[str, Any], value: float, label: str, causes: list[Cause]) -> None:
    if "minimum" in schema:
        low = schema["minimum"]
        if value < low or (schema.get("exclusiveMinimum") is True and value == low):
            causes.append(_invalid(label, value, f"{label} in body should be greater than or equal to {low}"))
    if "maximum" in schema:
        high = schema["maximum"]
        if value > high or (schema.get("exclusiveMaximum") is True and value == high):
            causes.append(_invalid(label, value, f"{label} in body should be less than or equal to {high}"))


def _check_string(schema: dict[str, Any], value: str, label: str, causes: list[Cause]) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        causes.append(
            _invalid(label, value, f"{label} in body should be at least {schema['minLength']} chars long")
        )
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        causes.append(
            _invalid(label, value, f"{label} in body should be at most {schema['maxLength']} chars long")
        )
    if "pattern" in schema and not re.search(schema["pattern"], value):
        causes.append(_invalid(label, value, f"{label} in body should match '{schema['pattern']}'"))


def _check_rules(
    schema: dict[str, Any], value: Any, old: Any, *, label: str, path: str, causes: list[Cause]
) -> None:
    for rule in schema.get("x-kubernetes-validations") or []:
        text = rule.get("rule", "")
        transition = cel_rules.is_transition_rule(text)
        if transition and old is _MISSING:
            continue
        passed, error = cel_rules.evaluate(text, value, None if old is _MISSING else old, has_old=transition)
        if passed:
            continue
        field = label
        if rule.get("fieldPath"):
            field = (path + rule["fieldPath"]) if path else rule["fieldPath"].lstrip(".")
        message = rule.get("message") or f"failed rule: {text}"
        if error is not None:
            message = f"{message} ({error})" if rule.get("message") else f"{error}: {text}"
        causes.append(
            {
                "reason": rule.get("reason") or "FieldValueInvalid",
                "field": field,
                "message": f"Invalid value: {_show(value)}: {message}",
            }
        )


def _invalid(label: str, value: Any, message: str) -> Cause:
    return {
        "reason": "FieldValueInvalid",
        "field": label,
        "message": f"Invalid value: {_show(value)}: {message}",
    }
