"""The StatefulSet controller: ordinal pods, PVCs from claim templates, revisions and rolling updates.

Follows the upstream controller's observable behaviour: pods ``<set>-<ordinal>`` with stable
hostnames under the governing service; ``OrderedReady`` creates one pod at a time once the lower
ordinals are Running and Ready and removes from the top, ``Parallel`` does not wait;
``RollingUpdate`` replaces pods at or above ``partition`` from the highest ordinal down, one at a
time and only while all pods are ready; ``OnDelete`` only uses the new revision for pods deleted by
someone else. PVCs ``<template>-<set>-<ordinal>`` are created once and outlive their pods.
Revisions are ``ControllerRevision`` objects named ``<set>-<hash>`` and reported in the status.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from hive_testbed.api.errors import ApiError
from hive_testbed.api.resources import ResourceType
from hive_testbed.controllers.loop import ResyncingController

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
WATCHED = {("apps", "statefulsets"), ("", "pods"), ("", "persistentvolumeclaims")}


def template_hash(template: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def is_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


class StatefulSetController(ResyncingController):
    watched = frozenset(WATCHED)

    def _type(self, group: str, plural: str) -> ResourceType:
        rtype = self._core.registry.storage_type(group, plural)
        assert rtype is not None
        return rtype

    def reconcile_all(self) -> None:
        sts_type = self._type("apps", "statefulsets")
        for sts in self._core.store.list_objects(sts_type.group_key):
            if sts["metadata"].get("deletionTimestamp"):
                continue
            try:
                self.reconcile(sts_type, sts)
            except ApiError:
                self._wake.set()  # raced with another writer: look again soon

    # ------------------------------------------------------------------ one set
    def reconcile(self, sts_type: ResourceType, sts: dict[str, Any]) -> None:
        core = self._core
        meta = sts["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        spec = sts.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        parallel = spec.get("podManagementPolicy") == "Parallel"
        strategy = spec.get("updateStrategy") or {}
        on_delete = strategy.get("type") == "OnDelete"
        partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0) or 0)
        status = sts.get("status") or {}

        update_revision = f"{name}-{template_hash(spec.get('template') or {})}"
        self._ensure_revision(sts, update_revision)
        current_revision = status.get("currentRevision") or update_revision

        pod_type = self._type("", "pods")
        pods = {
            p["metadata"]["name"]: p
            for p in core.store.list_objects(pod_type.group_key, namespace)
            if any(r.get("uid") == meta["uid"] for r in p["metadata"].get("ownerReferences") or [])
        }

        def revision_for(ordinal: int) -> str:
            if on_delete or ordinal >= partition:
                return update_revision
            return current_revision

        # create missing pods (lowest first); OrderedReady waits for each to be Running and Ready
        for ordinal in range(replicas):
            pod_name = f"{name}-{ordinal}"
            pod = pods.get(pod_name)
            if pod is None:
                self._ensure_claims(sts, ordinal)
                created = self._create_pod(sts, ordinal, revision_for(ordinal))
                pods[pod_name] = created
                if not parallel:
                    break
            elif not parallel and not is_ready(pod):
                break

        # remove pods above the desired count, highest first
        extra = sorted(
            (p for n, p in pods.items() if self._ordinal(name, n) >= replicas),
            key=lambda p: -self._ordinal(name, p["metadata"]["name"]),
        )
        if extra:
            all_ready = all(
                is_ready(p) for p in pods.values() if self._ordinal(name, p["metadata"]["name"]) < replicas
            )
            for pod in extra if parallel else extra[:1]:
                if not pod["metadata"].get("deletionTimestamp") and (parallel or all_ready):
                    core.delete(pod_type, namespace, pod["metadata"]["name"])

        # rolling update: replace one outdated pod at a time, highest ordinal first, while all are ready
        if not on_delete and not extra:
            wanted = [pods.get(f"{name}-{i}") for i in range(replicas)]
            if all(p is not None and is_ready(p) for p in wanted):
                for ordinal in range(replicas - 1, partition - 1, -1):
                    pod = wanted[ordinal]
                    assert pod is not None
                    if pod["metadata"].get("labels", {}).get(REVISION_LABEL) != update_revision:
                        core.delete(pod_type, namespace, pod["metadata"]["name"])
                        break

        self._write_status(
            sts_type, sts, pods, replicas=replicas, current=current_revision, update=update_revision
        )

    @staticmethod
    def _ordinal(set_name: str, pod_name: str) -> int:
        suffix = pod_name[len(set_name) + 1 :]
        return int(suffix) if suffix.isdigit() else -1

    def _owner_ref(self, sts: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": sts["metadata"]["name"],
            "uid": sts["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def _ensure_revision(self, sts: dict[str, Any], revision_name: str) -> None:
        rev_type = self._type("apps", "controllerrevisions")
        namespace = sts["metadata"]["namespace"]
        if self._core.store.get(rev_type.group_key, namespace, revision_name) is not None:
            return
        existing = [
            r
            for r in self._core.store.list_objects(rev_type.group_key, namespace)
            if any(o.get("uid") == sts["metadata"]["uid"] for o in r["metadata"].get("ownerReferences") or [])
        ]
        self._core.create(
            rev_type,
            namespace,
            {
                "metadata": {
                    "name": revision_name,
                    "namespace": namespace,
                    "ownerReferences": [self._owner_ref(sts)],
                    "labels": dict(
                        (sts.get("spec") or {}).get("selector", {}).get("matchLabels") or {},
                        **{REVISION_LABEL: revision_name},
                    ),
                },
                "data": {"spec": {"template": copy.deepcopy(sts["spec"].get("template") or {})}},
                "revision": 1 + max((int(r.get("revision", 0)) for r in existing), default=0),
            },
            manager="statefulset-controller",
        )

    def _template_of(self, sts: dict[str, Any], revision_name: str) -> dict[str, Any]:
        rev_type = self._type("apps", "controllerrevisions")
        revision = self._core.store.get(rev_type.group_key, sts["metadata"]["namespace"], revision_name)
        if revision is None:
            return copy.deepcopy(sts["spec"].get("template") or {})
        return copy.deepcopy(revision["data"]["spec"]["template"])

    def _ensure_claims(self, sts: dict[str, Any], ordinal: int) -> None:
        pvc_type = self._type("", "persistentvolumeclaims")
        namespace = sts["metadata"]["namespace"]
        for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
            claim = f"{template['metadata']['name']}-{sts['metadata']['name']}-{ordinal}"
            if self._core.store.get(pvc_type.group_key, namespace, claim) is not None:
                continue
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            labels.update((sts["spec"].get("selector") or {}).get("matchLabels") or {})
            body = {
                "metadata": {"name": claim, "namespace": namespace, "labels": labels},
                "spec": copy.deepcopy(template.get("spec") or {}),
            }
            policy = (sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}).get("whenDeleted")
            if policy == "Delete":
                body["metadata"]["ownerReferences"] = [dict(self._owner_ref(sts), controller=False)]
            created = self._core.create(pvc_type, namespace, body, manager="statefulset-controller")
            bound = dict(
                created,
                status={
                    "phase": "Bound",
                    "accessModes": created["spec"].get("accessModes", []),
                    "capacity": (created["spec"].get("resources") or {}).get("requests", {}),
                },
            )
            self._core.replace(
                pvc_type, namespace, claim, bound, subresource="status", manager="persistentvolume-controller"
            )

    def _create_pod(self, sts: dict[str, Any], ordinal: int, revision: str) -> dict[str, Any]:
        pod_type = self._type("", "pods")
        meta = sts["metadata"]
        template = self._template_of(sts, revision)
        pod_name = f"{meta['name']}-{ordinal}"
        pod_meta = copy.deepcopy(template.get("metadata") or {})
        pod_meta.update(name=pod_name, namespace=meta["namespace"], ownerReferences=[self._owner_ref(sts)])
        pod_meta["labels"] = dict(
            pod_meta.get("labels") or {},
            **{REVISION_LABEL: revision, POD_NAME_LABEL: pod_name, POD_INDEX_LABEL: str(ordinal)},
        )
        spec = copy.deepcopy(template.get("spec") or {})
        spec["hostname"] = pod_name
        if sts["spec"].get("serviceName"):
            spec["subdomain"] = sts["spec"]["serviceName"]
        volumes = [v for v in spec.get("volumes") or []]
        for claim_template in sts["spec"].get("volumeClaimTemplates") or []:
            volume_name = claim_template["metadata"]["name"]
            volumes = [v for v in volumes if v.get("name") != volume_name]
            volumes.append(
                {
                    "name": volume_name,
                    "persistentVolumeClaim": {"claimName": f"{volume_name}-{meta['name']}-{ordinal}"},
                }
            )
        if volumes:
            spec["volumes"] = volumes
        return self._core.create(
            pod_type,
            meta["namespace"],
            {"metadata": pod_meta, "spec": spec},
            manager="statefulset-controller",
        )

    def _write_status(
        self,
        sts_type: ResourceType,
        sts: dict[str, Any],
        pods: dict[str, dict[str, Any]],
        *,
        replicas: int,
        current: str,
        update: str,
    ) -> None:
        live = [p for p in pods.values() if not p["metadata"].get("deletionTimestamp")]
        revisions = [p["metadata"].get("labels", {}).get(REVISION_LABEL) for p in live]
        ready = sum(1 for p in live if is_ready(p))
        updated = sum(1 for r in revisions if r == update)
        if updated == replicas and len(live) == replicas and ready == replicas:
            current = update
        status = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(live),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": sum(1 for r in revisions if r == current),
            "updatedReplicas": updated,
            "currentRevision": current,
            "updateRevision": update,
            "collisionCount": 0,
        }
        fresh = self._core.store.get(
            sts_type.group_key, sts["metadata"]["namespace"], sts["metadata"]["name"]
        )
        if fresh is None or fresh.get("status") == status:
            return
        self._core.replace(
            sts_type,
            sts["metadata"]["namespace"],
            sts["metadata"]["name"],
            dict(fresh, status=status),
            subresource="status",
            manager="statefulset-controller",
        )
