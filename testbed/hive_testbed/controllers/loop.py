"""The loop every test-bed controller runs: reconcile everything when a watched kind is written,
and at least every ``resync_seconds`` (as a kube-controller-manager informer resync would)."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from hive_testbed.api.core import ApiCore
from hive_testbed.api.resources import ResourceType


class ResyncingController:
    """Subclasses set ``watched`` (group, plural) keys and implement :meth:`reconcile_all`."""

    watched: ClassVar[frozenset[tuple[str, str]]] = frozenset()

    def __init__(self, core: ApiCore, *, resync_seconds: float = 1.0) -> None:
        self._core = core
        self._wake = asyncio.Event()
        self._resync = resync_seconds
        core.write_hooks.append(self._on_write)

    def _on_write(self, rtype: ResourceType, event_type: str, obj: dict[str, Any]) -> None:
        if rtype.group_key in self.watched:
            self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._resync):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            self.reconcile_all()

    def reconcile_all(self) -> None:
        raise NotImplementedError
