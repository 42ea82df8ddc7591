"""The emulator's storage: objects per resource, one global resourceVersion and an event history.

Like etcd behind the API server, every write takes the next number of a single counter, which
becomes the object's ``metadata.resourceVersion`` and orders the event history that watches resume
from. The history keeps a bounded window; asking for a version older than the window is "410
Gone", as after an etcd compaction.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import dataclasses
from collections.abc import Iterator
from typing import Any

from hive_testbed.api.errors import gone

GroupKey = tuple[str, str]  # (api group, plural): all versions of a kind share their objects
ObjectKey = tuple[str, str]  # (namespace or "", name)


@dataclasses.dataclass(frozen=True)
class StoredEvent:
    resource_version: int
    group_key: GroupKey
    type: str  # ADDED, MODIFIED, DELETED
    object: dict[str, Any]
    previous: dict[str, Any] | None  # the object before this event (None for ADDED)


class Store:
    """In-memory objects plus a window of past events; not thread-safe (one event loop owns it)."""

    def __init__(self, *, history_limit: int = 20_000) -> None:
        self._objects: dict[GroupKey, dict[ObjectKey, dict[str, Any]]] = collections.defaultdict(dict)
        self._history: collections.deque[StoredEvent] = collections.deque()
        self._history_limit = history_limit
        self._resource_version = 1
        self._compacted_through = 0  # events with a version <= this are no longer available
        self._changed: asyncio.Event | None = None

    @property
    def resource_version(self) -> int:
        return self._resource_version

    @property
    def compacted_through(self) -> int:
        return self._compacted_through

    def get(self, group_key: GroupKey, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects[group_key].get((namespace, name))

    def list_objects(self, group_key: GroupKey, namespace: str | None = None) -> list[dict[str, Any]]:
        items = [
            obj
            for (obj_namespace, _), obj in self._objects[group_key].items()
            if namespace is None or obj_namespace == namespace
        ]
        return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def all_objects(self) -> Iterator[tuple[GroupKey, dict[str, Any]]]:
        for group_key, objects in list(self._objects.items()):
            for obj in list(objects.values()):
                yield group_key, obj

    def write(self, group_key: GroupKey, obj: dict[str, Any], *, event_type: str) -> dict[str, Any]:
        """Store ``obj`` (ADDED or MODIFIED) under the next resourceVersion; returns the stored copy."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        previous = self._objects[group_key].get(key)
        self._resource_version += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self._resource_version)
        self._objects[group_key][key] = stored
        self._record(StoredEvent(self._resource_version, group_key, event_type, stored, previous))
        return copy.deepcopy(stored)

    def remove(
        self, group_key: GroupKey, namespace: str, name: str, *, final: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Delete the object; the DELETED event carries a new resourceVersion, as on a real server.

        ``final`` is the object's last state when the removal is caused by a write (finalizers cleared).
        """
        previous = self._objects[group_key].pop((namespace, name), None)
        if previous is None:
            return None
        self._resource_version += 1
        final = copy.deepcopy(final if final is not None else previous)
        final["metadata"]["resourceVersion"] = str(self._resource_version)
        self._record(StoredEvent(self._resource_version, group_key, "DELETED", final, previous))
        return copy.deepcopy(final)

    def events_after(self, resource_version: int, group_key: GroupKey) -> list[StoredEvent]:
        """Events of one resource newer than ``resource_version``; 410 Gone if that part was compacted."""
        if resource_version < self._compacted_through:
            raise gone(f"too old resource version: {resource_version} ({self._compacted_through + 1})")
        return [
            e for e in self._history if e.resource_version > resource_version and e.group_key == group_key
        ]

    def compact(self) -> None:
        """Forget the whole event history, like an etcd compaction at the current revision."""
        self._history.clear()
        self._compacted_through = self._resource_version

    async def wait_for_change(self, seconds: float) -> None:
        """Block until the next write or ``seconds`` seconds, whichever comes first."""
        if self._changed is None:
            self._changed = asyncio.Event()
        changed = self._changed
        try:
            async with asyncio.timeout(seconds):
                await changed.wait()
        except TimeoutError:
            return

    def _record(self, event: StoredEvent) -> None:
        self._history.append(event)
        while len(self._history) > self._history_limit:
            dropped = self._history.popleft()
            self._compacted_through = dropped.resource_version
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()
