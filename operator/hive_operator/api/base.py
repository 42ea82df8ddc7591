"""Shared base of every API model: camelCase wire names, unknown fields refused, CEL rules.

Cross-field rules are written once, in CEL, as the ``cel_rules`` of a model. The CRD generator
copies them into ``x-kubernetes-validations`` for the API server, and the model validator below
evaluates the very same expressions with cel-python, so the operator and the API server can never
disagree about what a valid manifest is.

A rule that mentions ``oldSelf`` is a transition rule: the API server evaluates it only on an
update, with ``oldSelf`` bound to the stored object. The model validator skips those (a model
alone has no old version); :func:`transition_errors` evaluates them for an old and a new object.
The CEL environment includes the part of Kubernetes' ``quantity`` library the rules use
(``quantity(s)``, ``compareTo``), so ``quantity(self.size).compareTo(quantity(oldSelf.size))``
means the same here as in the API server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, ClassVar, TypeVar

import celpy
from celpy import celtypes
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

    @property
    def is_transition(self) -> bool:
        """True for a rule comparing with the stored object (``oldSelf``): checked on updates only."""
        return re.search(r"\boldSelf\b", self.rule) is not None

    def as_crd(self) -> dict[str, str]:
        entry = {"rule": self.rule, "message": self.message}
        if self.field_path:
            entry["fieldPath"] = self.field_path
        return entry


_QUANTITY = re.compile(r"^([+-]?[0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$")
_SUFFIX = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity (``4Gi``, ``500M``, ``250m``); ``ValueError`` otherwise."""
    match = _QUANTITY.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a quantity")
    return Decimal(match.group(1)) * _SUFFIX[match.group(2)]


class _CelQuantity(celtypes.StringType):
    """What ``quantity(s)`` returns: the text, with its value for ``compareTo``."""

    value: Decimal


def _cel_quantity(text: Any) -> _CelQuantity:
    quantity = _CelQuantity(str(text))
    quantity.value = parse_quantity(str(text))
    return quantity


def _cel_compare_to(left: Any, right: Any) -> celtypes.IntType:
    if not isinstance(left, _CelQuantity) or not isinstance(right, _CelQuantity):
        raise TypeError("compareTo needs two quantities")
    return celtypes.IntType((left.value > right.value) - (left.value < right.value))


CEL_FUNCTIONS: dict[str, Any] = {"quantity": _cel_quantity, "compareTo": _cel_compare_to}
"""The Kubernetes CEL library functions (beyond standard CEL) the rules of this API use."""


@lru_cache(maxsize=256)
def _compiled(rule: str) -> Any:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule), functions=CEL_FUNCTIONS)


def evaluate_cel(rule: str, value: Any, *, old: Any = None) -> bool:
    """Evaluate ``rule`` with ``self`` bound to the JSON value ``value`` (and ``oldSelf`` to
    ``old`` for a transition rule); errors count as false."""
    program = _compiled(rule)
    bindings = {"self": json_to_cel(value)}
    if old is not None:
        bindings["oldSelf"] = json_to_cel(old)
    try:
        result = program.evaluate(bindings)
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
            if rule.is_transition:
                continue
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


def transition_errors(old: HiveModel, new: HiveModel, *, prefix: str = "") -> list[str]:
    """Messages of the transition rules (``oldSelf``) that ``new`` breaks as an update of ``old``.

    Walks the two objects together, as the API server does: a rule on a nested object is
    evaluated only where the object exists in both versions. Each message is prefixed with the
    field it names (``spec.storage.size: ...``).
    """
    errors: list[str] = []
    rules = [rule for rule in type(new).cel_rules if rule.is_transition]
    if rules and type(old) is type(new):
        new_document = new.model_dump(mode="json", by_alias=True, exclude_none=True)
        old_document = old.model_dump(mode="json", by_alias=True, exclude_none=True)
        for rule in rules:
            if not evaluate_cel(rule.rule, new_document, old=old_document):
                path = field_path([prefix, *rule.field_path.lstrip(".").split(".")])
                errors.append(f"{path}: {rule.message}" if path else rule.message)
    for name, field in type(new).model_fields.items():
        old_value, new_value = getattr(old, name, None), getattr(new, name, None)
        if isinstance(old_value, HiveModel) and isinstance(new_value, HiveModel):
            alias = field.alias or name
            errors.extend(transition_errors(old_value, new_value, prefix=field_path([prefix, alias])))
    return errors
