"""The three patch formats of the Kubernetes API: JSON merge patch, JSON patch and strategic merge.

Strategic merge follows the patch strategies of the built-in types the operator and kubectl touch
(containers, ports, env, volumes, volume mounts, conditions, owner references, finalizers ...), and
the directives kubectl sends (``$patch``, ``$setElementOrder/<field>``, ``$retainKeys``,
``$deleteFromPrimitiveList/<field>``). Types without a known merge key replace lists, as the API does
for atomic lists.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from hive_testbed.api.errors import ApiError, bad_request

# Field name -> merge key of its list items (the patchMergeKey of the built-in Go types).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "readinessGates": "conditionType",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
}
# Lists of scalars merged as sets (patchStrategy "merge" on []string).
MERGED_SCALAR_LISTS = frozenset({"finalizers"})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge recursively, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch. A failing ``test`` or a missing path is 422, as on a real API server."""
    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations")
    try:
        return jsonpatch.apply_patch(target, operations, in_place=False)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise ApiError(422, "Invalid", f"the server rejected our request: {exc}") from exc


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), None)
        if sample is not None and "containerPort" in sample:
            return "containerPort"
        return "port"
    return MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge patch for built-in kinds (see the module docstring for what is supported)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    return _merge_map(target if isinstance(target, dict) else {}, patch)


def _merge_map(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return {}
    result = dict(target)
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$"):
            if key.startswith("$deleteFromPrimitiveList/"):
                field = key.split("/", 1)[1]
                if isinstance(result.get(field), list) and isinstance(value, list):
                    result[field] = [v for v in result[field] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            result[key] = _merge_map(current if isinstance(current, dict) else {}, value)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") and isinstance(value, list):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = _apply_order(field, result[field], value)
    return result


def _merge_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    current_list = current if isinstance(current, list) else []
    if field in MERGED_SCALAR_LISTS:
        merged = list(current_list)
        for item in patch:
            if item not in merged:
                merged.append(item)
        return merged
    key = _merge_key(field, patch + current_list)
    if key is None or not all(isinstance(i, dict) for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and i.get("$patch"))]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if i.get("$patch") != "replace"]
    merged = [copy.deepcopy(i) for i in current_list]
    for item in patch:
        if key not in item:
            raise bad_request(f"map in list {field!r} is missing its merge key {key!r}")
        index = next(
            (n for n, e in enumerate(merged) if isinstance(e, dict) and e.get(key) == item[key]), None
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del merged[index]
            continue
        if index is None:
            merged.append(_merge_map({}, item))
        else:
            merged[index] = _merge_map(merged[index], item)
    return merged


def _apply_order(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    key = _merge_key(field, items)

    def identity(item: Any) -> Any:
        if key is not None and isinstance(item, dict):
            return item.get(key)
        return item

    wanted = [identity(o) if isinstance(o, dict) else o for o in order]
    ordered = [i for w in wanted for i in items if identity(i) == w]
    rest = [i for i in items if identity(i) not in wanted]
    return ordered + rest
