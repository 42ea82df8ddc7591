"""Child events poke their owner: at most one pending reconcile per HiveCluster.

A deleted Service, an edited ConfigMap label or a pod that died must be acted on within moments,
not at the next timer tick, so the kopf glue (:mod:`hive_operator.handlers`) watches every kind a
HiveCluster owns, filtered by the ``hive.dev/cluster`` label, and pokes the owning cluster here.
One change makes a burst of watch events (the object, its dependants, a pod's status),
so pokes are coalesced: a poke while one is already pending for the same cluster does nothing; a
poke while a reconcile runs schedules exactly one more after it, so a change made during a
reconcile is never missed. The reconcile itself is idempotent (zero writes when nothing differs),
so its own writes coming back as events settle after one quiet pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("hive_operator.pokes")

Key = tuple[str, str]  # (namespace, HiveCluster name)


class Pokes:
    """Coalesces pokes per key into one delayed call of ``run`` (errors logged, not raised)."""

    def __init__(self, run: Callable[[str, str], Awaitable[object]], *, delay: float) -> None:
        self._run = run
        self._delay = delay
        self._pending: set[Key] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.scheduled = 0  # pokes that scheduled a reconcile (the rest were coalesced)

    def poke(self, namespace: str, name: str, *, delay: float | None = None) -> bool:
        """Ask for a reconcile of ``namespace/name`` after ``delay`` (default: the poke delay);
        False when one is already pending."""
        key = (namespace, name)
        if key in self._pending:
            return False
        self._pending.add(key)
        self.scheduled += 1
        wait = self._delay if delay is None else delay
        task = asyncio.get_running_loop().create_task(self._later(key, wait), name=f"poke {namespace}/{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _later(self, key: Key, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            self._pending.discard(key)  # from here on, a new poke schedules another run
        try:
            await self._run(*key)
        except Exception as error:  # the timer is the fallback; the error is in the metrics
            log.warning("%s/%s: poked reconcile failed: %s: %s", *key, type(error).__name__, error)

    async def close(self) -> None:
        """Cancel what is pending or running and wait for it to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pending.clear()
