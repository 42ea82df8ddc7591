"""Reading what the planner looks at: the HiveCluster, its children, the key names of the Secrets
it references, and which optional kinds the API server serves.

Children are listed per kind by the ``hive.dev/cluster`` label and kept only when the HiveCluster
is their controller (owner uid) or, for a retained data claim, named by uid in its
``hive.dev/claim-of`` annotation, so another cluster's or a user's look-alike object is never
touched. Referenced user Secrets are read for their key names only: the values are dropped here,
never stored, logged or passed on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hive_operator.api import HiveCluster, parse_manifest
from hive_operator.kube.client import ApiError, KubeApi, NotFound
from hive_operator.kube.resources import OPTIONAL, resource
from hive_operator.specs import CREATION_ORDER, names_of, referenced_secrets
from hive_operator.specs.meta import CLUSTER_LABEL
from hive_operator.specs.workload import CLAIM_OF


async def read_cluster(api: KubeApi, namespace: str, name: str) -> HiveCluster | None:
    """The HiveCluster as stored now (None when it is gone)."""
    try:
        body = await api.get(resource("HiveCluster").path(namespace, name))
    except NotFound:
        return None
    return parse_manifest(body, HiveCluster)


async def available_kinds(api: KubeApi) -> frozenset[str]:
    """Optional kinds (ServiceMonitor, PrometheusRule, cert-manager's Certificate) the server
    serves, through discovery (one call per API group version)."""
    available: set[str] = set()
    for group_version in sorted({resource(kind).api_version for kind in OPTIONAL}):
        try:
            listing = await api.get(f"/apis/{group_version}")
        except NotFound:
            continue
        served = {item.get("name") for item in listing.get("resources", [])}
        available |= {
            kind
            for kind in OPTIONAL
            if resource(kind).api_version == group_version and resource(kind).plural in served
        }
    return frozenset(available)


async def read_issued_secrets(
    api: KubeApi, cluster: HiveCluster, names: list[str]
) -> dict[str, dict[str, Any]]:
    """The Secrets cert-manager wrote for the cluster's Certificates, by name (absent when not
    written yet). They are cert-manager's, not the cluster's children: read apart, never changed."""
    namespace = names_of(cluster).namespace
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            found[name] = await api.get(resource("Secret").path(namespace, name))
        except NotFound:
            continue
    return found


def _owned_by(obj: Mapping[str, Any], uid: str | None) -> bool:
    """The cluster is the object's controller, or (a retained data claim, which has no owner so
    that garbage collection cannot take it) the claim names the cluster's uid."""
    metadata = obj.get("metadata", {})
    if uid and (metadata.get("annotations") or {}).get(CLAIM_OF) == uid:
        return True
    return any(ref.get("uid") == uid and ref.get("controller") for ref in metadata.get("ownerReferences", []))


async def read_children(
    api: KubeApi, cluster: HiveCluster, kinds: frozenset[str], *, foreign_claims: set[str] | None = None
) -> dict[tuple[str, str], dict[str, Any]]:
    """The cluster's children keyed by (kind, name), with ``apiVersion`` and ``kind`` filled in.
    Data claims that carry the cluster's label but belong to another HiveCluster of the same name
    (an earlier one, deleted with its claims retained) are named in ``foreign_claims``."""
    names = names_of(cluster)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for kind in CREATION_ORDER:
        if kind in OPTIONAL and kind not in kinds:
            continue
        kind_resource = resource(kind)
        listing = await api.get(
            kind_resource.path(names.namespace), params={"labelSelector": f"{CLUSTER_LABEL}={names.cluster}"}
        )
        for item in listing.get("items", []):
            if _owned_by(item, cluster.metadata.uid):
                item["apiVersion"], item["kind"] = kind_resource.api_version, kind
                found[(kind, item["metadata"]["name"])] = item
            elif kind == "PersistentVolumeClaim" and foreign_claims is not None:
                foreign_claims.add(item["metadata"]["name"])
    return found


async def read_referenced_secret_keys(api: KubeApi, cluster: HiveCluster) -> dict[str, frozenset[str]]:
    """For each user Secret the spec names and that exists: its key names (values discarded)."""
    namespace = names_of(cluster).namespace
    keys: dict[str, frozenset[str]] = {}
    for name in sorted({reference.name for reference in referenced_secrets(cluster)}):
        try:
            secret = await api.get(resource("Secret").path(namespace, name))
        except NotFound:
            continue
        except ApiError as error:
            if error.status == 403:  # a Secret we may not read is reported as missing, by name
                continue
            raise
        keys[name] = frozenset(secret.get("data") or {}) | frozenset(secret.get("stringData") or {})
        del secret
    return keys


async def read_config_map_key(api: KubeApi, namespace: str, name: str, key: str) -> str | None:
    """The text under ``key`` of a user ConfigMap (None when the ConfigMap or key is missing)."""
    try:
        config_map = await api.get(resource("ConfigMap").path(namespace, name))
    except NotFound:
        return None
    value = (config_map.get("data") or {}).get(key)
    return value if isinstance(value, str) else None
