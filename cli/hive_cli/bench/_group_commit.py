"""Group commit for concurrent asyncio writers of a bare WAL, for ``hive bench floor``.

Not product code: a node never uses it. In a node the Raft driver's Ready loop is the group
commit (everything proposed since the last Ready is appended and covered by one fdatasync, see
:mod:`hive_runtime.node.driver`). The floor benchmark uses this to measure what the WAL alone can
make durable with many writers: writers call :meth:`GroupCommitter.append`; a single flusher,
:meth:`GroupCommitter.run`, runs ``fdatasync`` in a worker thread while the event loop keeps
appending, and when it returns every writer whose entry was written before the sync started is
released at once. Under load each fdatasync covers everything appended during the previous one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from hive_runtime.storage import LogEntry, StorageError, WriteAheadLog


class GroupCommitter:
    """Batches fdatasync calls of one :class:`WriteAheadLog` across concurrent asyncio writers."""

    def __init__(self, wal: WriteAheadLog, *, sync_in_thread: bool = True) -> None:
        self.wal = wal
        self.sync_in_thread = sync_in_thread
        self.syncs = 0
        self._waiters: deque[tuple[int, asyncio.Future[int]]] = deque()
        self._wakeup = asyncio.Event()
        self._failure: StorageError | None = None

    async def append(self, entries: Sequence[LogEntry]) -> int:
        """Append ``entries`` now and return their last index once it is on disk."""
        self.wal.append(entries)
        return await self.wait_durable(entries[-1].index)

    async def wait_durable(self, index: int) -> int:
        """Return the durable index once it is at least ``index``; raises if syncing failed."""
        if self._failure is not None:
            raise self._failure
        if index <= self.wal.synced_index:
            return self.wal.synced_index
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append((index, future))
        self._wakeup.set()
        return await future

    async def run(self) -> None:
        """Flush forever; raises the storage error (after failing every waiter) if a sync fails."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._waiters:
                try:
                    if self.sync_in_thread:
                        durable = await asyncio.to_thread(self.wal.sync)
                    else:
                        durable = self.wal.sync()
                except StorageError as error:
                    self._failure = error
                    while self._waiters:
                        _, future = self._waiters.popleft()
                        if not future.done():
                            future.set_exception(error)
                    raise
                self.syncs += 1
                while self._waiters and self._waiters[0][0] <= durable:
                    _, future = self._waiters.popleft()
                    if not future.done():
                        future.set_result(durable)
