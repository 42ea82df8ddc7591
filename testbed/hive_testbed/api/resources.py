"""The resource types the emulator serves: built-in kinds plus those registered by CRD objects.

Discovery, routing, status/scale subresources, strategic-merge support and schema validation all
read from one :class:`ResourceType` per group/version/plural, so a CRD created over HTTP behaves the
same as a built-in kind from the moment it is registered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any


@dataclasses.dataclass(frozen=True)
class ScaleSpec:
    """Where a kind keeps its replica counts (CRD ``subresources.scale`` or the built-in equivalent)."""

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = None
    selector_is_object: bool = False  # built-in workloads keep a LabelSelector object in spec.selector


@dataclasses.dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = False
    scale: ScaleSpec | None = None
    builtin: bool = True  # built-in kinds accept strategic merge patches
    schema: dict[str, Any] | None = None  # openAPIV3Schema of a CRD version
    printer_columns: tuple[dict[str, Any], ...] = ()
    served_by_crd: str | None = None  # metadata.name of the CRD that registered it
    storage: bool = True  # the version objects are stored in; other served versions are views

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def group_key(self) -> tuple[str, str]:
        """Objects are stored per group and plural: every served version sees the same objects."""
        return (self.group, self.plural)

    @property
    def verbs(self) -> list[str]:
        return ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    def describe(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _t(
    group: str,
    version: str,
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    status: bool = False,
    scale: ScaleSpec | None = None,
    categories: tuple[str, ...] = (),
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        kind=kind,
        namespaced=namespaced,
        short_names=short,
        has_status=status,
        scale=scale,
        categories=categories,
    )


_WORKLOAD_SCALE = ScaleSpec(label_selector_path=".spec.selector", selector_is_object=True)

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _t("", "v1", "namespaces", "Namespace", namespaced=False, short=("ns",), status=True),
    _t("", "v1", "pods", "Pod", short=("po",), status=True, categories=("all",)),
    _t("", "v1", "services", "Service", short=("svc",), status=True, categories=("all",)),
    _t("", "v1", "configmaps", "ConfigMap", short=("cm",)),
    _t("", "v1", "secrets", "Secret"),
    _t("", "v1", "events", "Event", short=("ev",)),
    _t("", "v1", "endpoints", "Endpoints", short=("ep",)),
    _t("", "v1", "serviceaccounts", "ServiceAccount", short=("sa",)),
    _t("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",), status=True),
    _t("", "v1", "persistentvolumes", "PersistentVolume", namespaced=False, short=("pv",), status=True),
    _t("", "v1", "nodes", "Node", namespaced=False, short=("no",), status=True),
    _t(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        short=("sts",),
        status=True,
        scale=_WORKLOAD_SCALE,
        categories=("all",),
    ),
    _t(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short=("deploy",),
        status=True,
        scale=_WORKLOAD_SCALE,
        categories=("all",),
    ),
    _t(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        short=("rs",),
        status=True,
        scale=_WORKLOAD_SCALE,
        categories=("all",),
    ),
    _t("apps", "v1", "daemonsets", "DaemonSet", short=("ds",), status=True, categories=("all",)),
    _t("apps", "v1", "controllerrevisions", "ControllerRevision"),
    _t("batch", "v1", "jobs", "Job", status=True, categories=("all",)),
    _t("batch", "v1", "cronjobs", "CronJob", short=("cj",), status=True, categories=("all",)),
    _t("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short=("pdb",), status=True),
    _t("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short=("netpol",)),
    _t("networking.k8s.io", "v1", "ingresses", "Ingress", short=("ing",), status=True),
    _t("coordination.k8s.io", "v1", "leases", "Lease"),
    _t("events.k8s.io", "v1", "events", "Event", short=("ev",)),
    _t("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    _t("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _t("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    _t("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    _t("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False, short=("sc",)),
    _t(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short=("crd", "crds"),
        status=True,
    ),
)


class ResourceRegistry:
    """All served resource types, looked up by group, version and plural."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rtype in BUILTIN_TYPES:
            self.add(rtype)

    def add(self, rtype: ResourceType) -> None:
        self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def remove_crd(self, crd_name: str) -> list[ResourceType]:
        gone = [t for t in self._types.values() if t.served_by_crd == crd_name]
        for rtype in gone:
            del self._types[(rtype.group, rtype.version, rtype.plural)]
        return gone

    def replace_crd(self, crd_name: str, types: list[ResourceType]) -> None:
        self.remove_crd(crd_name)
        for rtype in types:
            self.add(rtype)

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def for_kind(self, api_version: str, kind: str) -> ResourceType | None:
        for rtype in self._types.values():
            if rtype.api_version == api_version and rtype.kind == kind:
                return rtype
        return None

    def storage_type(self, group: str, plural: str) -> ResourceType | None:
        for rtype in self._types.values():
            if rtype.group == group and rtype.plural == plural and rtype.storage:
                return rtype
        return None

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._types.values()))

    def groups(self) -> dict[str, list[str]]:
        """Group name to its served versions (the preferred one first); the core group is ''."""
        result: dict[str, list[str]] = {}
        for rtype in self._types.values():
            versions = result.setdefault(rtype.group, [])
            if rtype.version not in versions:
                if rtype.storage:
                    versions.insert(0, rtype.version)
                else:
                    versions.append(rtype.version)
        return result
