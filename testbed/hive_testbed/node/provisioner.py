"""A local volume provisioner, in the way external provisioners work with the real PV controller.

The bed's default StorageClass names this provisioner and binds on first consumer: the scheduler
picks a node and annotates the claim, the PV controller marks the claim for this provisioner, and
this component creates a ``local`` PersistentVolume on that node (a directory under the node
agent's root) with a ``claimRef``. The PV controller then binds them, as it would any volume.
When a released volume's reclaim policy is Delete, its directory and the PV are removed.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

from hive_testbed.kube import Informer, KubeClient, KubeError

log = logging.getLogger(__name__)
PROVISIONER_ANNOTATION = "volume.kubernetes.io/storage-provisioner"
SELECTED_NODE_ANNOTATION = "volume.kubernetes.io/selected-node"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"


def volume_for_claim(
    claim: dict[str, Any], *, provisioner: str, root: Path, reclaim_policy: str
) -> dict[str, Any] | None:
    """The PV to create for a claim waiting for this provisioner, or None when it is not ours yet."""
    meta = claim["metadata"]
    annotations = meta.get("annotations") or {}
    spec = claim.get("spec") or {}
    node = annotations.get(SELECTED_NODE_ANNOTATION)
    if annotations.get(PROVISIONER_ANNOTATION) != provisioner or spec.get("volumeName") or not node:
        return None
    name = f"pvc-{meta['uid']}"
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {PROVISIONED_BY: provisioner}},
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": reclaim_policy,
            "storageClassName": spec.get("storageClassName"),
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
            "local": {"path": str(root / name)},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                            ]
                        }
                    ]
                }
            },
        },
    }


class LocalProvisioner:
    def __init__(self, client: KubeClient, *, name: str, root: Path) -> None:
        self.client = client
        self.name = name
        self.root = root
        self._wake = asyncio.Event()
        self.claims = Informer(client, "/api/v1/persistentvolumeclaims", on_change=self._poke)
        self.volumes = Informer(client, "/api/v1/persistentvolumes", on_change=self._poke)
        self.classes = Informer(client, "/apis/storage.k8s.io/v1/storageclasses", on_change=self._poke)

    def _poke(self, kind: str, obj: dict[str, Any]) -> None:
        self._wake.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for informer in (self.claims, self.volumes, self.classes):
                group.create_task(informer.run())
            group.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.sync()
            except (KubeError, OSError) as exc:
                log.warning("provisioner sync: %s", exc)
                await asyncio.sleep(1)
                self._wake.set()

    async def sync(self) -> None:
        existing = {key[1] for key in self.volumes.objects}
        for claim in list(self.claims.objects.values()):
            class_name = (claim.get("spec") or {}).get("storageClassName") or ""
            storage_class = self.classes.objects.get(("", class_name)) or {}
            volume = volume_for_claim(
                claim,
                provisioner=self.name,
                root=self.root,
                reclaim_policy=str(storage_class.get("reclaimPolicy", "Delete")),
            )
            if volume is None or volume["metadata"]["name"] in existing:
                continue
            Path(volume["spec"]["local"]["path"]).mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
            try:
                await self.client.create("/api/v1/persistentvolumes", volume)
            except KubeError as exc:
                if exc.status != 409:
                    raise
        for (_, name), volume in list(self.volumes.objects.items()):
            annotations = volume["metadata"].get("annotations") or {}
            spec, status = volume.get("spec") or {}, volume.get("status") or {}
            if (
                annotations.get(PROVISIONED_BY) == self.name
                and status.get("phase") == "Released"
                and spec.get("persistentVolumeReclaimPolicy") == "Delete"
            ):
                path = Path((spec.get("local") or {}).get("path", ""))
                if path.is_relative_to(self.root):
                    shutil.rmtree(path, ignore_errors=True)
                try:
                    await self.client.delete(f"/api/v1/persistentvolumes/{name}")
                except KubeError as exc:
                    if exc.status != 404:
                        raise
