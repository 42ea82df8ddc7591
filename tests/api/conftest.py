"""An independent re-implementation of how the API server admits a custom resource.

It works only from the generated CRD document (never from the pydantic models): structural
defaulting, strict unknown-field rejection (``fieldValidation=Strict``, kubectl's default),
OpenAPI schema validation with jsonschema, and ``x-kubernetes-validations`` evaluated with
cel-python. Comparing its verdicts with the models' is how the suite proves the two agree.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import pytest
import yaml

from hive_operator.api.base import CEL_FUNCTIONS

REPO = Path(__file__).resolve().parents[2]


def _join(path: list[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class AdmissionEmulator:
    """Admit objects of one CRD version the way kube-apiserver would."""

    def __init__(self, crd: dict[str, Any]) -> None:
        version = crd["spec"]["versions"][0]
        self.kind = crd["spec"]["names"]["kind"]
        self.schema = version["schema"]["openAPIV3Schema"]
        self._cel = celpy.Environment()

    def admit(self, document: dict[str, Any]) -> list[str]:
        obj = copy.deepcopy(document)
        self._default(self.schema, obj)
        errors = list(self._unknown_fields(self.schema, obj, []))
        errors += list(self._schema_errors(obj))
        errors += list(self._cel_errors(self.schema, obj, []))
        return errors

    def admit_update(self, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
        """Errors of an update: everything :meth:`admit` checks, plus the transition rules."""
        old_obj, new_obj = copy.deepcopy(old), copy.deepcopy(new)
        self._default(self.schema, old_obj)
        self._default(self.schema, new_obj)
        return self.admit(new) + list(self._transition_errors(self.schema, old_obj, new_obj, []))

    def _transition_errors(
        self, schema: dict[str, Any], old: Any, new: Any, path: list[str | int]
    ) -> Iterator[str]:
        for rule in schema.get("x-kubernetes-validations", []):
            if "oldSelf" in rule["rule"] and not self._holds(rule["rule"], new, old=old):
                yield f"{_join(path) + rule.get('fieldPath', '')}: Invalid value: {rule['message']}"
        if isinstance(old, dict) and isinstance(new, dict):
            for name, child in schema.get("properties", {}).items():
                if name in old and name in new:
                    yield from self._transition_errors(child, old[name], new[name], [*path, name])

    def _default(self, schema: dict[str, Any], value: Any) -> None:
        if isinstance(value, dict):
            for name, child in schema.get("properties", {}).items():
                if name not in value and "default" in child:
                    value[name] = copy.deepcopy(child["default"])
                if name in value:
                    self._default(child, value[name])
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                for item in value.values():
                    self._default(extra, item)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for item in value:
                self._default(schema["items"], item)

    def _unknown_fields(self, schema: dict[str, Any], value: Any, path: list[str | int]) -> Iterator[str]:
        if path == ["metadata"]:
            return
        if isinstance(value, dict):
            properties = schema.get("properties")
            if properties is not None:
                for name in value:
                    if name not in properties:
                        yield f'{_join([*path, name])}: unknown field "{_join([*path, name])}"'
                    else:
                        yield from self._unknown_fields(properties[name], value[name], [*path, name])
            elif isinstance(schema.get("additionalProperties"), dict):
                for name, item in value.items():
                    yield from self._unknown_fields(schema["additionalProperties"], item, [*path, name])
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                yield from self._unknown_fields(schema["items"], item, [*path, index])

    def _schema_errors(self, obj: dict[str, Any]) -> Iterator[str]:
        validator = jsonschema.Draft4Validator(self.schema)
        for error in validator.iter_errors(obj):
            path: list[str | int] = list(error.absolute_path)
            if error.validator == "required":
                missing = re.match(r"'([^']+)' is a required property", error.message)
                if missing:
                    yield f"{_join([*path, missing.group(1)])}: Required value"
                    continue
            yield f"{_join(path)}: Invalid value: {error.message}"

    def _cel_errors(self, schema: dict[str, Any], value: Any, path: list[str | int]) -> Iterator[str]:
        for rule in schema.get("x-kubernetes-validations", []):
            if "oldSelf" in rule["rule"]:
                continue  # a transition rule: the API server checks it on updates only
            if not self._holds(rule["rule"], value):
                field = _join(path) + rule.get("fieldPath", "")
                yield f"{field}: Invalid value: {rule['message']}"
        if isinstance(value, dict):
            for name, child in schema.get("properties", {}).items():
                if name in value:
                    yield from self._cel_errors(child, value[name], [*path, name])
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                yield from self._cel_errors(schema["items"], item, [*path, index])

    def _holds(self, rule: str, value: Any, *, old: Any = None) -> bool:
        program = self._cel.program(self._cel.compile(rule), functions=CEL_FUNCTIONS)
        bindings = {"self": celpy.json_to_cel(value)}
        if old is not None:
            bindings["oldSelf"] = celpy.json_to_cel(old)
        try:
            return bool(program.evaluate(bindings))
        except Exception:
            return False


def load_crd(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "crds" / name).read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def emulators() -> dict[str, AdmissionEmulator]:
    return {
        "HiveCluster": AdmissionEmulator(load_crd("hive.dev_hiveclusters.yaml")),
        "HiveBackup": AdmissionEmulator(load_crd("hive.dev_hivebackups.yaml")),
    }
