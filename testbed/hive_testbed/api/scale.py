"""The ``scale`` subresource: an ``autoscaling/v1`` Scale view over a kind's replica fields."""

from __future__ import annotations

import copy
from typing import Any

from hive_testbed.api.resources import ResourceType
from hive_testbed.api.selectors import selector_from_label_selector_object


def _get_path(obj: dict[str, Any], path: str) -> Any:
    node: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    node = obj
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def scale_of(rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    assert rtype.scale is not None
    meta = obj["metadata"]
    selector: Any = None
    if rtype.scale.label_selector_path:
        selector = _get_path(obj, rtype.scale.label_selector_path)
        if rtype.scale.selector_is_object:
            selector = selector_from_label_selector_object(selector)
    status: dict[str, Any] = {"replicas": _get_path(obj, rtype.scale.status_replicas_path) or 0}
    if selector:
        status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": _get_path(obj, rtype.scale.spec_replicas_path) or 0},
        "status": status,
    }


def with_replicas(rtype: ResourceType, obj: dict[str, Any], replicas: Any) -> dict[str, Any]:
    assert rtype.scale is not None
    updated = copy.deepcopy(obj)
    _set_path(updated, rtype.scale.spec_replicas_path, replicas)
    return updated
