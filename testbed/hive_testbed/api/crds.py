"""CustomResourceDefinition objects turned into served resource types (what apiextensions does).

Creating, updating or deleting a ``CustomResourceDefinition`` over the API registers, changes or
removes the kinds it defines, so ``kubectl apply -f crds/`` works as on a cluster. The CRD gets the
``NamesAccepted`` and ``Established`` conditions (``kubectl wait --for condition=established`` works),
and deleting it deletes its custom objects.
"""

from __future__ import annotations

import copy
from typing import Any

from hive_testbed.api import errors
from hive_testbed.api.core import ApiCore, timestamp
from hive_testbed.api.resources import ResourceType, ScaleSpec

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")


def types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    result: list[ResourceType] = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        scale = subresources.get("scale")
        result.append(
            ResourceType(
                group=group,
                version=version["name"],
                plural=names.get("plural", ""),
                kind=names.get("kind", ""),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular", ""),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                has_status="status" in subresources,
                scale=None
                if scale is None
                else ScaleSpec(
                    spec_replicas_path=scale.get("specReplicasPath", ".spec.replicas"),
                    status_replicas_path=scale.get("statusReplicasPath", ".status.replicas"),
                    label_selector_path=scale.get("labelSelectorPath"),
                ),
                builtin=False,
                schema=copy.deepcopy((version.get("schema") or {}).get("openAPIV3Schema")),
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                served_by_crd=crd["metadata"]["name"],
                storage=bool(version.get("storage", False)),
            )
        )
    return result


def validate_crd(crd: dict[str, Any]) -> None:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    name = crd.get("metadata", {}).get("name", "")
    causes: list[dict[str, str]] = []
    if not names.get("plural"):
        causes.append(
            {"reason": "FieldValueRequired", "field": "spec.names.plural", "message": "Required value"}
        )
    if not names.get("kind"):
        causes.append(
            {"reason": "FieldValueRequired", "field": "spec.names.kind", "message": "Required value"}
        )
    if names.get("plural") and name != f"{names['plural']}.{spec.get('group', '')}":
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "field": "metadata.name",
                "message": f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
            }
        )
    versions = spec.get("versions") or []
    if sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "field": "spec.versions",
                "message": "Invalid value: must have exactly one version marked as storage version",
            }
        )
    if causes:
        raise errors.invalid("CustomResourceDefinition", name, group="apiextensions.k8s.io", causes=causes)


class CrdController:
    """Keeps the registry in step with the stored CRDs and marks new CRDs established."""

    def __init__(self, core: ApiCore) -> None:
        self._core = core
        core.write_hooks.append(self._on_write)
        core.admission_hooks.append(self._admit)

    def _admit(self, rtype: ResourceType, obj: dict[str, Any]) -> None:
        if rtype.group_key == CRD_KEY:
            validate_crd(obj)

    def _on_write(self, rtype: ResourceType, event_type: str, obj: dict[str, Any]) -> None:
        if rtype.group_key != CRD_KEY:
            return
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            for gone in self._core.registry.remove_crd(name):
                for stored in self._core.store.list_objects(gone.group_key):
                    meta = stored["metadata"]
                    self._core.finish_deletion(gone, meta.get("namespace", ""), meta["name"])
            return
        self._core.registry.replace_crd(name, types_from_crd(obj))
        conditions = {
            c.get("type"): c.get("status") for c in (obj.get("status") or {}).get("conditions") or []
        }
        if conditions.get("Established") == "True" and conditions.get("NamesAccepted") == "True":
            return
        now = timestamp(self._core.clock())
        status = copy.deepcopy(obj.get("status") or {})
        status["acceptedNames"] = copy.deepcopy((obj.get("spec") or {}).get("names") or {})
        status["storedVersions"] = [v["name"] for v in obj["spec"].get("versions", []) if v.get("storage")]
        status["conditions"] = [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": now,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": now,
            },
        ]
        updated = copy.deepcopy(obj)
        updated["status"] = status
        self._core.replace(rtype, "", name, updated, subresource="status", manager="apiextensions-controller")
