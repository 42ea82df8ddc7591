"""Snapshot files written on a worker thread, so the event loop never waits for them.

Writing a snapshot means writing the whole serialised state (4.7 MB at 100k resting orders),
fsyncing it, renaming it into place and fsyncing the directory: 25-250 ms on the shared test
machine, far beyond the loop's 10 ms lag budget. :class:`SnapshotWriter` runs
:meth:`SnapshotStore.save <hive_runtime.storage.snapshots.SnapshotStore.save>` on one worker
thread (kept off the pinned event-loop core) and hands back a future. The caller adopts the
snapshot (makes it the current one and compacts the log behind it) on its own thread only once
the future says the file is durable, so a crash at any moment leaves either the old snapshot and
the full log, or the new snapshot and a log that still reaches back to it.

The durability simulation swaps ``ThreadPoolExecutor`` in this module for a deterministic one
(``hive_sim.deferred``), as it does for the WAL's other workers.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from hive_runtime.platform.pinning import keep_off_pinned_core
from hive_runtime.storage.snapshots import Snapshot, SnapshotStore


class SnapshotWriter:
    """Writes snapshot files of one store, one at a time, on a worker thread created on first use."""

    def __init__(self, store: SnapshotStore) -> None:
        self._store = store
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, snapshot: Snapshot) -> Future[Path]:
        """Start writing ``snapshot``; the future holds its path once it is durable (or the error)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="hive-snapshot-write", initializer=keep_off_pinned_core
            )
        return self._executor.submit(self._store.save, snapshot)

    def close(self) -> None:
        """Wait for the write in flight, if any, and stop the worker thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
