"""URL parsing and the discovery documents (``/api``, ``/apis``, ``/apis/<group>/<version>``).

kubectl and kopf find resources only through discovery, so the lists are built from the live
registry: a CRD's kinds appear as soon as it is created and vanish when it is deleted.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from typing import Any

from hive_testbed.api.resources import ResourceRegistry, ResourceType

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-hive-testbed",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclasses.dataclass(frozen=True)
class ResourcePath:
    group: str
    version: str
    plural: str | None
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_path(path: str) -> ResourcePath | None:
    """Split a resource URL; ``None`` for non-resource paths (discovery, version, health)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return ResourcePath(group, version, None, None, None, None)
    namespace: str | None = None
    if (
        rest[0] == "namespaces"
        and group == ""
        and (len(rest) <= 2 or (len(rest) == 3 and rest[2] in ("status", "finalize")))
    ):
        pass  # the namespaces resource itself
    elif rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = "/".join(rest[2:]) or None
    return ResourcePath(group, version, plural, namespace, name, subresource)


def api_versions(host: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


def _group_doc(group: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: ResourceRegistry) -> dict[str, Any]:
    groups = [_group_doc(g, vs) for g, vs in sorted(registry.groups().items()) if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: ResourceRegistry, group: str) -> dict[str, Any] | None:
    versions = registry.groups().get(group)
    if not versions or not group:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


def _resource_entries(rtype: ResourceType) -> list[dict[str, Any]]:
    digest = hashlib.sha256(f"{rtype.group}/{rtype.version}/{rtype.plural}".encode()).digest()

    entries: list[dict[str, Any]] = [
        {
            "name": rtype.plural,
            "singularName": rtype.singular_name(),
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": rtype.verbs,
            "storageVersionHash": base64.b64encode(digest[:8]).decode(),
            **({"shortNames": list(rtype.short_names)} if rtype.short_names else {}),
            **({"categories": list(rtype.categories)} if rtype.categories else {}),
        }
    ]
    if rtype.has_status:
        entries.append(
            {
                "name": f"{rtype.plural}/status",
                "singularName": "",
                "namespaced": rtype.namespaced,
                "kind": rtype.kind,
                "verbs": ["get", "patch", "update"],
            }
        )
    if rtype.scale is not None:
        entries.append(
            {
                "name": f"{rtype.plural}/scale",
                "singularName": "",
                "namespaced": rtype.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }
        )
    if rtype.group_key == ("", "pods"):
        entries += [
            {
                "name": "pods/eviction",
                "singularName": "",
                "namespaced": True,
                "group": "policy",
                "version": "v1",
                "kind": "Eviction",
                "verbs": ["create"],
            },
            {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
        ]
    if rtype.group_key == ("", "namespaces"):
        entries.append(
            {
                "name": "namespaces/finalize",
                "singularName": "",
                "namespaced": False,
                "kind": "Namespace",
                "verbs": ["update"],
            }
        )
    return entries


def api_resource_list(registry: ResourceRegistry, group: str, version: str) -> dict[str, Any] | None:
    types = [t for t in registry if t.group == group and t.version == version]
    if not types:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [entry for t in sorted(types, key=lambda t: t.plural) for entry in _resource_entries(t)],
    }


def root_paths(registry: ResourceRegistry) -> dict[str, Any]:
    paths = {"/api", "/api/v1", "/apis", "/version", "/healthz", "/readyz", "/livez"}
    for group, versions in registry.groups().items():
        if group:
            paths.add(f"/apis/{group}")
            paths |= {f"/apis/{group}/{v}" for v in versions}
    return {"paths": sorted(paths)}
