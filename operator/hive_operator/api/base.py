"""Shared base of every API model: camelCase wire names, unknown fields refused, CEL rules.

Cross-field rules are written once, in CEL, as the ``cel_rules`` of a model. The CRD generator
copies them into ``x-kubernetes-validations`` for the API server, and the model validator below
evaluates the very same expressions with cel-python, so the operator and the API server can never
disagree about what a valid manifest is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, TypeVar

import celpy
from celpy.adapter import json_to_cel
from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema


@dataclass(frozen=True)
class CelRule:
    """One ``x-kubernetes-validations`` entry: ``rule`` must hold for ``self`` (this object).

    ``field_path`` is relative to this object and starts with a dot (``.replicas``), as the
    Kubernetes ``fieldPath`` of a validation rule does; it names the field in error messages.
    """

    rule: str
    message: str
    field_path: str = ""

    def as_crd(self) -> dict[str, str]:
        entry = {"rule": self.rule, "message": self.message}
        if self.field_path:
            entry["fieldPath"] = self.field_path
        return entry


@lru_cache(maxsize=256)
def _compiled(rule: str) -> Any:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def evaluate_cel(rule: str, value: Any) -> bool:
    """Evaluate ``rule`` with ``self`` bound to the JSON value ``value``; errors count as false."""
    program = _compiled(rule)
    try:
        result = program.evaluate({"self": json_to_cel(value)})
    except Exception:  # cel-python raises a family of evaluation errors; an error is a failed rule
        return False
    return bool(result) if not isinstance(result, Exception) else False


class HiveModel(BaseModel):
    """Base of all API models."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=True,
        use_enum_values=False,
        strict=True,
    )

    cel_rules: ClassVar[tuple[CelRule, ...]] = ()

    @model_validator(mode="after")
    def _check_cel_rules(self) -> HiveModel:
        rules = type(self).cel_rules
        if not rules:
            return self
        document = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        for rule in rules:
            if not evaluate_cel(rule.rule, document):
                raise PydanticCustomError(
                    "cel_rule",
                    "{message}",
                    {"message": rule.message, "field_path": rule.field_path.lstrip(".")},
                )
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core)
        if cls.cel_rules:
            target = handler.resolve_ref_schema(schema)
            target["x-kubernetes-validations"] = [rule.as_crd() for rule in cls.cel_rules]
        return schema


M = TypeVar("M", bound=HiveModel)


class ManifestError(ValueError):
    """A manifest was rejected; ``messages`` name each offending field (``spec.replicas: ...``)."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def validation_messages(error: ValidationError, *, prefix: str = "") -> list[str]:
    """Render a pydantic error as API-server-like lines: ``spec.tls.renewBefore: message``."""
    lines = []
    for item in error.errors():
        parts: list[str | int] = [prefix] if prefix else []
        parts.extend(item["loc"])
        context = item.get("ctx") or {}
        extra_path = context.get("field_path")
        if extra_path:
            parts.extend(str(extra_path).split("."))
        path = field_path(parts)
        lines.append(f"{path}: {item['msg']}" if path else str(item["msg"]))
    return lines


def field_path(parts: Iterable[str | int]) -> str:
    """Join path parts the way the API server prints them: ``spec.secrets[0].name``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part:
            text += f".{part}" if text else part
    return text


def parse_manifest(document: Mapping[str, Any], model: type[M]) -> M:
    """Validate a manifest (a dict as read from YAML or the API) strictly, as JSON is typed.

    Raises :class:`ManifestError` whose messages name each offending field.
    """
    try:
        return model.model_validate_json(json.dumps(document))
    except ValidationError as error:
        raise ManifestError(validation_messages(error)) from error
