"""Build the CustomResourceDefinitions of the Hive API from the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from hive_operator.api.backup import HiveBackupSpec, HiveBackupStatus
from hive_operator.api.cluster import HiveClusterSpec
from hive_operator.api.schema import model_openapi_schema, strip_defaults
from hive_operator.api.status import HiveClusterStatus

GROUP = "hive.dev"
VERSION = "v1alpha1"


def _resource_schema(spec: type[BaseModel], status: type[BaseModel], description: str) -> dict[str, Any]:
    spec_schema = model_openapi_schema(spec)
    status_schema = strip_defaults(model_openapi_schema(status))
    return {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
    }


def _crd(
    *,
    kind: str,
    plural: str,
    short_names: list[str],
    schema: dict[str, Any],
    subresources: dict[str, Any],
    columns: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "hive"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["hive"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": subresources,
                    "additionalPrinterColumns": columns,
                }
            ],
        },
    }


def hivecluster_crd() -> dict[str, Any]:
    """The HiveCluster CRD, with status and scale subresources and printer columns."""
    return _crd(
        kind="HiveCluster",
        plural="hiveclusters",
        short_names=["hc"],
        schema=_resource_schema(HiveClusterSpec, HiveClusterStatus, "A replicated Hive trading runtime."),
        subresources={
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".status.selector",
            },
        },
        columns=[
            {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
            {"name": "Leader", "type": "string", "jsonPath": ".status.leader"},
            {"name": "Version", "type": "string", "jsonPath": ".status.currentVersion"},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


def hivebackup_crd() -> dict[str, Any]:
    """The HiveBackup CRD, with a status subresource."""
    return _crd(
        kind="HiveBackup",
        plural="hivebackups",
        short_names=["hb"],
        schema=_resource_schema(HiveBackupSpec, HiveBackupStatus, "A backup of a HiveCluster."),
        subresources={"status": {}},
        columns=[
            {"name": "Cluster", "type": "string", "jsonPath": ".spec.cluster"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Index", "type": "integer", "jsonPath": ".status.committedIndex"},
            {"name": "Verified", "type": "boolean", "jsonPath": ".status.verified"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


def all_crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD document, for every resource of the API."""
    return {
        "hive.dev_hiveclusters.yaml": hivecluster_crd(),
        "hive.dev_hivebackups.yaml": hivebackup_crd(),
    }
