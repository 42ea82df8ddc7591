"""Server-side ``Table`` rendering for ``kubectl get`` (Accept: ``as=Table;g=meta.k8s.io``).

Columns: NAME, a few kind-specific ones (pods, workloads, namespaces), a CRD's
``additionalPrinterColumns`` (simple ``.a.b[0].c`` JSONPaths), and AGE.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from hive_testbed.api.resources import ResourceType


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def _age(created: str | None) -> str:
    if not created:
        return "<unknown>"
    moment = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    seconds = max(int((datetime.datetime.now(tz=datetime.UTC) - moment).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _json_path(obj: Any, path: str) -> Any:
    node = obj
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            node = node[index] if isinstance(node, list) and index < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def _builtin_columns(rtype: ResourceType) -> list[tuple[str, str, Any]]:
    match (rtype.group, rtype.kind):
        case ("", "Pod"):
            return [
                ("Ready", "string", _pod_ready),
                ("Status", "string", lambda o: (o.get("status") or {}).get("phase", "")),
                (
                    "Restarts",
                    "integer",
                    lambda o: sum(
                        c.get("restartCount", 0)
                        for c in (o.get("status") or {}).get("containerStatuses") or []
                    ),
                ),
                ("IP", "string", lambda o: (o.get("status") or {}).get("podIP", "<none>")),
            ]
        case ("apps", "StatefulSet") | ("apps", "Deployment") | ("apps", "ReplicaSet"):
            return [
                (
                    "Ready",
                    "string",
                    lambda o: (
                        f"{(o.get('status') or {}).get('readyReplicas', 0)}/"
                        f"{(o.get('spec') or {}).get('replicas', 0)}"
                    ),
                )
            ]
        case ("", "Namespace") | ("", "PersistentVolumeClaim"):
            return [("Status", "string", lambda o: (o.get("status") or {}).get("phase", ""))]
        case ("", "Service"):
            return [
                ("Type", "string", lambda o: (o.get("spec") or {}).get("type", "")),
                ("Cluster-IP", "string", lambda o: (o.get("spec") or {}).get("clusterIP", "")),
            ]
        case _:
            return []


def _pod_ready(pod: dict[str, Any]) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def as_table(rtype: ResourceType, items: list[dict[str, Any]], resource_version: str) -> dict[str, Any]:
    columns: list[tuple[str, str, Any]] = [("Name", "string", lambda o: o["metadata"]["name"])]
    columns += _builtin_columns(rtype)
    for column in rtype.printer_columns:
        path = column.get("jsonPath", "")
        columns.append(
            (column.get("name", path), column.get("type", "string"), lambda o, p=path: _json_path(o, p))
        )
    columns.append(("Age", "string", lambda o: _age(o["metadata"].get("creationTimestamp"))))
    rows = []
    for obj in items:
        cells = []
        for _, kind, getter in columns:
            value = getter(obj)
            if kind == "date" and isinstance(value, str):
                value = _age(value)
            cells.append("<none>" if value is None else value)
        rows.append(
            {
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                },
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": "string" if kind == "date" else kind,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": 0,
            }
            for name, kind, _ in columns
        ],
        "rows": rows,
    }
