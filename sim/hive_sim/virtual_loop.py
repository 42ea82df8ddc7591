"""An asyncio event loop on simulated time: timers fire in order, instantly, and repeatably.

Why: the production :class:`~hive_runtime.node.driver.RaftDriver` is asyncio code (it schedules
its Ready loop with ``call_soon``, proposals are futures, clients use ``asyncio.timeout``). To
run several of them in one process under a seeded nemesis, the loop's clock must be simulated:
:class:`VirtualTimeLoop` is asyncio's own selector loop whose ``time()`` is a counter and whose
selector, instead of waiting for I/O, moves that counter to the next timer. Nothing in the
simulation does real I/O (the network and the disks are in memory), and asyncio runs callbacks
in a deterministic order, so a seed replays exactly.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Mapping
from typing import Any


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0


class _VirtualSelector(selectors.BaseSelector):
    """Accepts registrations (the loop's self-pipe) and never reports I/O; time jumps instead."""

    def __init__(self, clock: _Clock) -> None:
        self._clock = clock
        self._keys: dict[int, selectors.SelectorKey] = {}

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fd] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        return self._keys.pop(fd)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("the simulation has nothing left to do (no timer and no ready callback)")
        self._clock.now += timeout
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._keys

    def close(self) -> None:
        self._keys.clear()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """``asyncio.SelectorEventLoop`` whose time is simulated (seconds from 0)."""

    def __init__(self) -> None:
        self._clock = _Clock()
        super().__init__(_VirtualSelector(self._clock))

    def time(self) -> float:
        return self._clock.now
