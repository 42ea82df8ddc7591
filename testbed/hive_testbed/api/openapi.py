"""A minimal OpenAPI v3 surface, only so kubectl knows the server validates fields itself.

kubectl's default ``--validate=strict`` first asks ``/openapi/v3`` whether a kind's PATCH accepts
the ``fieldValidation`` parameter; if so it leaves validation to the server instead of downloading
full schemas. The documents list one PATCH operation per kind with that parameter and no schemas:
schema-driven client features (``kubectl explain``, client-side schema validation) do not work.
"""

from __future__ import annotations

from typing import Any

from hive_testbed.api.resources import ResourceRegistry


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_root(registry: ResourceRegistry, revision: int) -> dict[str, Any]:
    paths = {}
    for group, versions in registry.groups().items():
        for version in versions:
            path = _gv_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={revision:016X}"}
    return {"paths": paths}


def openapi_group_version(registry: ResourceRegistry, group: str, version: str) -> dict[str, Any] | None:
    types = [t for t in registry if t.group == group and t.version == version]
    if not types:
        return None
    paths: dict[str, Any] = {}
    for rtype in types:
        scope = "namespaces/{namespace}/" if rtype.namespaced else ""
        url = f"/{_gv_path(group, version)}/{scope}{rtype.plural}/{{name}}"
        paths[url] = {
            "patch": {
                "operationId": f"patch{rtype.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": rtype.kind},
                "parameters": [
                    {
                        "name": "fieldValidation",
                        "in": "query",
                        "schema": {"type": "string", "uniqueItems": True},
                    },
                    {
                        "name": "fieldManager",
                        "in": "query",
                        "schema": {"type": "string", "uniqueItems": True},
                    },
                    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                ],
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-hive-testbed"},
        "paths": paths,
        "components": {"schemas": {}},
    }
