"""Garbage collection by ownerReferences, and namespace termination.

Mirrors kube-controller-manager's garbage collector: dependents whose owners are all gone are
deleted (background propagation); dangling references next to live owners are dropped; an owner
deleted with ``propagationPolicy: Foreground`` keeps its ``foregroundDeletion`` finalizer until its
blocking dependents are gone; ``Orphan`` strips the references and releases the owner. A terminating
namespace is emptied and then removed. Like the real one, it works asynchronously after the write.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from hive_testbed.api.core import ApiCore
from hive_testbed.api.errors import ApiError
from hive_testbed.api.resources import ResourceType

NAMESPACES = ("", "namespaces")


class GarbageCollector:
    def __init__(self, core: ApiCore) -> None:
        self._core = core
        self._wake = asyncio.Event()
        core.write_hooks.append(self._on_write)

    def _on_write(self, rtype: ResourceType, event_type: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if event_type == "DELETED" or meta.get("deletionTimestamp") or meta.get("ownerReferences"):
            self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            for _ in range(1000):  # each pass may orphan more objects: repeat until nothing changes
                if not self.sweep():
                    break
                await asyncio.sleep(0)

    def sweep(self) -> bool:
        """One pass over all objects; returns whether anything changed (then sweep again)."""
        core = self._core
        live: dict[str, tuple[ResourceType, dict[str, Any]]] = {}
        for group_key, obj in core.store.all_objects():
            rtype = core.registry.storage_type(*group_key)
            if rtype is not None:
                live[obj["metadata"]["uid"]] = (rtype, obj)
        changed = False
        dependents: dict[str, list[dict[str, Any]]] = {}
        for rtype, obj in list(live.values()):
            refs = obj["metadata"].get("ownerReferences") or []
            if not refs:
                continue
            for ref in refs:
                dependents.setdefault(ref.get("uid", ""), []).append(
                    ref | {"_dependent": obj["metadata"]["uid"]}
                )
            changed |= self._collect_dependent(rtype, obj, refs, live)
        for rtype, obj in list(live.values()):
            meta = obj["metadata"]
            if not meta.get("deletionTimestamp"):
                continue
            finalizers = meta.get("finalizers") or []
            uid = meta["uid"]
            if "foregroundDeletion" in finalizers:
                blocking = [
                    d
                    for d in dependents.get(uid, [])
                    if d.get("blockOwnerDeletion") and d["_dependent"] in live
                ]
                if not blocking:
                    changed |= self._drop_finalizer(rtype, obj, "foregroundDeletion")
            if "orphan" in finalizers and not dependents.get(uid):
                changed |= self._drop_finalizer(rtype, obj, "orphan")
            if rtype.group_key == NAMESPACES:
                changed |= self._terminate_namespace(rtype, obj)
        return changed

    def _collect_dependent(
        self,
        rtype: ResourceType,
        obj: dict[str, Any],
        refs: list[dict[str, Any]],
        live: dict[str, tuple[ResourceType, dict[str, Any]]],
    ) -> bool:
        meta = obj["metadata"]
        alive = [r for r in refs if r.get("uid") in live]
        orphaning = [r for r in alive if "orphan" in (live[r["uid"]][1]["metadata"].get("finalizers") or [])]
        foreground = [
            r
            for r in alive
            if "foregroundDeletion" in (live[r["uid"]][1]["metadata"].get("finalizers") or [])
        ]
        if not alive:
            return self._delete(rtype, obj, "Background")
        if orphaning or len(alive) < len(refs):
            kept = [r for r in alive if r not in orphaning]
            return self._set_refs(rtype, obj, kept)
        if foreground and len(foreground) == len(alive) and not meta.get("deletionTimestamp"):
            return self._delete(rtype, obj, "Foreground")
        return False

    def _delete(self, rtype: ResourceType, obj: dict[str, Any], policy: str) -> bool:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return False
        try:
            self._core.delete(
                rtype,
                meta.get("namespace", ""),
                meta["name"],
                {"propagationPolicy": policy, "preconditions": {"uid": meta["uid"]}},
            )
        except ApiError:
            return False
        return True

    def _set_refs(self, rtype: ResourceType, obj: dict[str, Any], refs: list[dict[str, Any]]) -> bool:
        updated = copy.deepcopy(obj)
        if refs:
            updated["metadata"]["ownerReferences"] = refs
        else:
            updated["metadata"].pop("ownerReferences", None)
        return self._replace(rtype, updated)

    def _drop_finalizer(self, rtype: ResourceType, obj: dict[str, Any], finalizer: str) -> bool:
        updated = copy.deepcopy(obj)
        updated["metadata"]["finalizers"] = [f for f in obj["metadata"]["finalizers"] if f != finalizer]
        return self._replace(rtype, updated)

    def _replace(self, rtype: ResourceType, updated: dict[str, Any]) -> bool:
        meta = updated["metadata"]
        try:
            self._core.replace(
                rtype, meta.get("namespace", ""), meta["name"], updated, manager="generic-garbage-collector"
            )
        except ApiError:
            return False
        return True

    def _terminate_namespace(self, rtype: ResourceType, namespace: dict[str, Any]) -> bool:
        name = namespace["metadata"]["name"]
        remaining = False
        changed = False
        for group_key, obj in self._core.store.all_objects():
            if obj["metadata"].get("namespace") != name:
                continue
            remaining = True
            content_type = self._core.registry.storage_type(*group_key)
            if content_type is not None:
                changed |= self._delete(content_type, obj, "Background")
        if remaining or namespace["metadata"].get("finalizers"):
            return changed
        self._core.finish_deletion(rtype, "", name)
        return True
