"""Everything a Raft node keeps on disk, behind the read/write surface the Raft driver needs.

Layout of a data directory: ``wal/`` (segments), ``snapshots/`` (snapshot files), ``hardstate``.
Reads follow the usual Raft storage shape (``first_index``, ``last_index``, ``term``, ``entries``,
``snapshot``, ``initial_state``); writes are ``append``/``sync``/``truncate_after``,
``save_hard_state`` and ``save_snapshot``/``install_snapshot`` (which also compact the log).
A snapshot this node takes can also be written off the caller's thread: :meth:`write_snapshot`
returns a future, and :meth:`adopt_snapshot` compacts the log once that future is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

from hive_runtime.storage.errors import CorruptLogError
from hive_runtime.storage.fileops import OsFileOps
from hive_runtime.storage.hardstate import HardState, HardStateFile
from hive_runtime.storage.metrics import StorageMetrics
from hive_runtime.storage.record import LogEntry
from hive_runtime.storage.snapshot_writer import SnapshotWriter
from hive_runtime.storage.snapshots import Snapshot, SnapshotStore
from hive_runtime.storage.wal import DEFAULT_SEGMENT_BYTES, WriteAheadLog


class NodeStorage:
    """WAL + hard state + snapshots of one node, reconciled with each other at open."""

    def __init__(
        self,
        data_dir: Path,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        snapshots_kept: int = 2,
        file_ops: OsFileOps | None = None,
        metrics: StorageMetrics | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.metrics = metrics if metrics is not None else StorageMetrics()
        ops = file_ops if file_ops is not None else OsFileOps()
        self.snapshots = SnapshotStore(
            self.data_dir / "snapshots", keep=snapshots_kept, file_ops=ops, metrics=self.metrics
        )
        self._snapshot_writer = SnapshotWriter(self.snapshots)
        self._hard_state_file = HardStateFile(self.data_dir, file_ops=ops, metrics=self.metrics)
        self._hard_state = self._hard_state_file.load()
        self._snapshot = self.snapshots.latest()
        self.wal = WriteAheadLog(
            self.data_dir / "wal", segment_bytes=segment_bytes, file_ops=ops, metrics=self.metrics
        )
        self._reconcile()

    def _reconcile(self) -> None:
        snapshot_index = self._snapshot.meta.index if self._snapshot else 0
        if self.wal.last_index() < snapshot_index:
            # The log ends before the snapshot (crash during install, or compacted away): the
            # snapshot supersedes it.
            self.wal.reset(next_index=snapshot_index + 1)
        elif self.wal.first_index() > snapshot_index + 1:
            raise CorruptLogError(
                f"{self.data_dir}: log starts at {self.wal.first_index()} but the newest snapshot "
                f"covers only through {snapshot_index}: entries are missing"
            )
        elif (
            self._snapshot is not None
            and self.wal.first_index() <= snapshot_index
            and self.wal.term(snapshot_index) != self._snapshot.meta.term
        ):
            # The log disagrees with the snapshot at its own index: the snapshot is committed
            # state, so the conflicting log suffix cannot be.
            self.wal.reset(next_index=snapshot_index + 1)

    # ----------------------------------------------------------- Raft reads
    def initial_state(self) -> HardState:
        return self._hard_state

    def first_index(self) -> int:
        snapshot_index = self._snapshot.meta.index if self._snapshot else 0
        return max(self.wal.first_index(), snapshot_index + 1)

    def last_index(self) -> int:
        return self.wal.last_index()

    def term(self, index: int) -> int:
        if self._snapshot is not None and index == self._snapshot.meta.index:
            return self._snapshot.meta.term
        if index == 0:
            return 0
        return self.wal.term(index)

    def entries(self, lo: int, hi: int, *, max_bytes: int | None = None) -> list[LogEntry]:
        return self.wal.entries(lo, hi, max_bytes=max_bytes)

    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    # ---------------------------------------------------------- Raft writes
    def append(self, entries: Sequence[LogEntry]) -> None:
        self.wal.append(entries)

    def sync(self) -> int:
        return self.wal.sync()

    def truncate_after(self, index: int) -> None:
        self.wal.truncate_after(index)

    def save_hard_state(self, state: HardState) -> None:
        if state != self._hard_state:
            self._hard_state_file.save(state)
            self._hard_state = state

    def save_snapshot(self, snapshot: Snapshot, *, keep_entries: int = 0) -> None:
        """Persist a snapshot this node took, then drop segments wholly before it (minus a margin)."""
        self._check_within_log(snapshot)
        self.snapshots.save(snapshot)
        self.adopt_snapshot(snapshot, keep_entries=keep_entries)

    def write_snapshot(self, snapshot: Snapshot) -> Future[Path]:
        """Start writing a snapshot this node took on the snapshot worker thread. Nothing else
        changes until the caller passes it to :meth:`adopt_snapshot` after the future is done."""
        self._check_within_log(snapshot)
        return self._snapshot_writer.submit(snapshot)

    def adopt_snapshot(self, snapshot: Snapshot, *, keep_entries: int = 0) -> bool:
        """``snapshot``'s file is durable: make it the current snapshot and drop segments wholly
        before it (minus a margin). False (nothing changes) if a newer snapshot is current."""
        if self._snapshot is not None and snapshot.meta.index <= self._snapshot.meta.index:
            return False
        self._snapshot = snapshot
        self.wal.compact_through(snapshot.meta.index - keep_entries)
        return True

    def _check_within_log(self, snapshot: Snapshot) -> None:
        if snapshot.meta.index > self.wal.last_index():
            raise ValueError(f"snapshot at {snapshot.meta.index} is past the log end {self.wal.last_index()}")

    def install_snapshot(self, snapshot: Snapshot) -> None:
        """Persist a snapshot received from the leader and make the log continue after it."""
        self.snapshots.save(snapshot)
        self._snapshot = snapshot
        index = snapshot.meta.index
        has_matching_entry = (
            self.wal.first_index() <= index <= self.wal.last_index()
            and self.wal.term(index) == snapshot.meta.term
        )
        if has_matching_entry:
            self.wal.compact_through(index)
        else:
            self.wal.reset(next_index=index + 1)

    def close(self) -> None:
        self._snapshot_writer.close()
        self.wal.close()
