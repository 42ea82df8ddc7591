"""The OpenAPI 3.1 document of the admin API, generated from the contract models and routes.

Checked in as ``docs/admin-openapi.json``; ``hive contract openapi [--check]`` rewrites or checks
it, and a test fails when it is stale. Schemathesis fuzzes the running API from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic.json_schema import JsonSchemaMode, models_json_schema

from hive_runtime.contract.models import CONTRACT_VERSION, MAX_NODE_ID, ContractModel, ErrorResponse
from hive_runtime.contract.routes import ROUTES

OPENAPI_DOC = Path("docs/admin-openapi.json")
_REF = "#/components/schemas/{model}"


def _all_models() -> list[tuple[type[ContractModel], JsonSchemaMode]]:
    """Requests as the server validates them, responses as the server writes them (every field
    present, so a defaulted field such as ``contractVersion`` is required in a response)."""
    models: list[tuple[type[ContractModel], JsonSchemaMode]] = [(ErrorResponse, "serialization")]
    for route in ROUTES:
        for model in (route.request, route.query):
            if model is not None and (model, "validation") not in models:
                models.append((model, "validation"))
        for model in route.responses.values():
            if (model, "serialization") not in models:
                models.append((model, "serialization"))
    return models


def _query_parameters(model: type[ContractModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = schemas[model.__name__]
    parameters = []
    for name, declared in schema["properties"].items():
        prop = {key: value for key, value in declared.items() if key not in ("default", "title")}
        options = prop.pop("anyOf", None)
        if options is not None:  # ``int | None``: the parameter is optional, its value an integer
            prop.update(next(option for option in options if option.get("type") != "null"))
        parameters.append({"name": name, "in": "query", "required": False, "schema": prop})
    return parameters


def _json_ref(model: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=model)}}}


def build_document() -> dict[str, Any]:
    _, top = models_json_schema(_all_models(), by_alias=True, ref_template=_REF)
    schemas: dict[str, Any] = top["$defs"]
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        operation: dict[str, Any] = {
            "operationId": route.operation,
            "summary": route.summary,
            "security": [{"mutualTLS": []}],
            "x-hive-roles": ["operator"] if route.operator_only else ["operator", "client", "peer"],
            "responses": {},
        }
        parameters = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_NODE_ID},
            }
            for name in route.path_ids
        ]
        if route.query is not None:
            parameters += _query_parameters(route.query, schemas)
        if parameters:
            operation["parameters"] = parameters
        if route.request is not None:
            required = any(field.is_required() for field in route.request.model_fields.values())
            operation["requestBody"] = {
                "required": required,  # an empty body stands for {}
                "content": {
                    "application/json": {"schema": {"$ref": _REF.format(model=route.request.__name__)}}
                },
            }
        for code, model in sorted(route.responses.items()):
            operation["responses"][str(code)] = {
                "description": model.__doc__.strip().splitlines()[0] if model.__doc__ else model.__name__,
                "content": _json_ref(model.__name__),
            }
        for code in route.errors:
            operation["responses"][str(code)] = {
                "description": "error",
                "content": _json_ref("ErrorResponse"),
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hive runtime admin API",
            "version": str(CONTRACT_VERSION),
            "description": "Generated from hive_runtime.contract by `hive contract openapi`; do not edit.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "mutualTLS": {
                    "type": "mutualTLS",
                    "description": "client certificate issued by the cluster CA; mutating calls need "
                    "the operator role",
                }
            },
        },
    }


def render_document() -> str:
    return json.dumps(build_document(), indent=2, sort_keys=True) + "\n"


def is_stale(root: Path) -> bool:
    target = root / OPENAPI_DOC
    return not target.exists() or target.read_text() != render_document()


def write_document(root: Path) -> bool:
    """Write the document under ``root``; True when it changed."""
    if not is_stale(root):
        return False
    target = root / OPENAPI_DOC
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_document())
    return True
