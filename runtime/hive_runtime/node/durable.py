"""Durable Raft storage: an in-memory log the core reads, backed by the WAL the node writes.

This is etcd's arrangement: the Raft core reads a :class:`~hive_runtime.raft.MemoryStorage`,
the driver writes every Ready to disk (:class:`~hive_runtime.storage.NodeStorage`) and then to
memory, and at start-up the memory log is rebuilt from the newest snapshot, the hard state and
the WAL. The WAL is thus read only during recovery, never on the replication path.

Entry kinds (normal, membership change, no-op) are not a WAL concept, so each record's data is
prefixed with one kind byte.

A snapshot the node takes is written in two steps so the event loop never waits for the file:
:meth:`DurableRaftStorage.begin_snapshot` starts writing it on the storage's worker thread, and
:meth:`DurableRaftStorage.finish_snapshot`, called on the loop once the file is durable, makes it
the current snapshot and compacts both logs behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hive_runtime import raft
from hive_runtime import storage as disk


def _to_record(entry: raft.Entry) -> disk.LogEntry:
    return disk.LogEntry(index=entry.index, term=entry.term, data=bytes([int(entry.kind)]) + entry.data)


def _from_record(record: disk.LogEntry) -> raft.Entry:
    if not record.data or record.data[0] > max(raft.EntryKind):
        raise disk.CorruptLogError(f"log record {record.index} has no valid entry kind")
    return raft.Entry(record.term, record.index, raft.EntryKind(record.data[0]), record.data[1:])


def _encode_membership(conf: raft.ConfState) -> dict[str, Any]:
    return {"voters": sorted(conf.voters), "learners": sorted(conf.learners)}


def _decode_membership(value: Any) -> raft.ConfState:
    if not isinstance(value, dict):
        return raft.ConfState()
    return raft.ConfState(frozenset(value.get("voters", ())), frozenset(value.get("learners", ())))


@dataclass(frozen=True)
class PendingSnapshot:
    """A snapshot whose file is being written; ``written`` completes when it is durable."""

    index: int
    conf_state: raft.ConfState
    data: bytes
    disk_snapshot: disk.Snapshot
    written: Future[Path]


class DurableRaftStorage:
    """Implements :class:`hive_runtime.raft.Storage` (reads) and the driver's write side."""

    def __init__(
        self,
        data_dir: Path,
        *,
        bootstrap: raft.ConfState,
        metrics: disk.StorageMetrics | None = None,
        segment_bytes: int | None = None,
        snapshots_kept: int = 2,
        durable: bool = True,
        file_ops: disk.OsFileOps | None = None,
    ) -> None:
        """``file_ops`` is the storage layer's seam to the OS (tests pass a power-loss model)."""
        options: dict[str, Any] = {"metrics": metrics, "file_ops": file_ops, "snapshots_kept": snapshots_kept}
        if segment_bytes is not None:
            options["segment_bytes"] = segment_bytes
        self.disk = disk.NodeStorage(data_dir, **options)
        self.durable = durable  # False only for benchmarks: acknowledged writes can be lost
        self._unsynced = False  # WAL writes not yet covered by an fdatasync
        self.memory = self._recover(bootstrap)
        self._saved_term_vote = (self.memory.hard_state.term, self.memory.hard_state.vote)
        self.closed = False

    def _recover(self, bootstrap: raft.ConfState) -> raft.MemoryStorage:
        snapshot = self.disk.snapshot()
        # The membership at index 0 is the bootstrap one the operator wrote (the same for every
        # start of every member); later changes live in the log, and a snapshot carries the
        # membership as of its index, so once there is a snapshot the bootstrap is ignored.
        memory = raft.MemoryStorage(bootstrap if snapshot is None else None)
        if snapshot is not None:
            meta = raft.SnapshotMeta(
                snapshot.meta.index, snapshot.meta.term, _decode_membership(snapshot.meta.membership)
            )
            memory.apply_snapshot(raft.Snapshot(meta, snapshot.data))
        first, last = self.disk.first_index(), self.disk.last_index()
        if last >= first:
            memory.append([_from_record(record) for record in self.disk.entries(first, last + 1)])
        hard = self.disk.initial_state()
        commit = min(max(hard.commit, memory.snapshot().meta.index), memory.last_index())
        memory.set_hard_state(raft.HardState(hard.term, hard.vote, commit))
        return memory

    @property
    def has_state(self) -> bool:
        """Whether this node has any history (then bootstrap membership was ignored)."""
        return self.memory.last_index() > 0 or self.memory.hard_state.term > 0

    # -- raft.Storage (reads) --------------------------------------------------------------------
    def initial_state(self) -> tuple[raft.HardState, raft.ConfState]:
        return self.memory.initial_state()

    def entries(self, lo: int, hi: int) -> list[raft.Entry]:
        return self.memory.entries(lo, hi)

    def term(self, index: int) -> int:
        return self.memory.term(index)

    def first_index(self) -> int:
        return self.memory.first_index()

    def last_index(self) -> int:
        return self.memory.last_index()

    def snapshot(self) -> raft.Snapshot:
        return self.memory.snapshot()

    # -- the driver's write side -----------------------------------------------------------------
    def install_snapshot(self, snapshot: raft.Snapshot) -> None:
        """Persist a snapshot received from the leader; the log continues after it."""
        meta = disk.SnapshotMeta(
            snapshot.meta.index, snapshot.meta.term, _encode_membership(snapshot.meta.conf_state)
        )
        self.disk.install_snapshot(disk.Snapshot(meta, snapshot.data))
        self.memory.apply_snapshot(snapshot)
        self._unsynced = True

    def append(self, entries: Sequence[raft.Entry]) -> None:
        """Write entries (replacing a conflicting suffix); durable only after :meth:`sync`."""
        if not entries:
            return
        first = entries[0].index
        if first <= self.disk.last_index():
            self.disk.truncate_after(first - 1)
        self.disk.append([_to_record(entry) for entry in entries])
        self.memory.append(list(entries))
        self._unsynced = True

    def set_hard_state(self, state: raft.HardState) -> None:
        """Record term, vote and commit. Term and vote go to disk at once (they must survive a
        crash before any vote or append is answered); the commit index alone is recoverable and
        is written with the next term or vote change or snapshot."""
        self.memory.set_hard_state(state)
        if (state.term, state.vote) != self._saved_term_vote:
            self.disk.save_hard_state(disk.HardState(state.term, state.vote, state.commit))
            self._saved_term_vote = (state.term, state.vote)

    def sync(self) -> bool:
        """Make appended entries durable. Term and vote are already durable when set (atomic file
        write); a Ready that only moves the commit index has nothing to sync (the commit index is
        recoverable), so no fdatasync is spent on it."""
        sync = self.begin_sync()
        if sync is not None:
            sync()
        return sync is not None

    def begin_sync(self) -> Callable[[], object] | None:
        """:meth:`sync` in two steps, for a driver that fsyncs on another thread: on the loop,
        take what needs syncing now; the callable returned (None: nothing to sync) does the
        fdatasync and may run on any thread (the WAL takes its lock), before anything that
        promises durability is sent and before the next append."""
        needed = self.durable and self._unsynced
        self._unsynced = False
        return self.disk.sync if needed else None

    def save_snapshot(
        self, *, index: int, conf_state: raft.ConfState, data: bytes, keep_entries: int
    ) -> None:
        """Persist a snapshot of the applied state at ``index`` and compact both logs before it."""
        snapshot = self.memory.create_snapshot(index, conf_state, data)
        meta = disk.SnapshotMeta(index, snapshot.meta.term, _encode_membership(conf_state))
        self.disk.save_snapshot(disk.Snapshot(meta, data), keep_entries=keep_entries)
        hard = self.memory.hard_state
        self.disk.save_hard_state(disk.HardState(hard.term, hard.vote, max(hard.commit, index)))
        compact_to = max(index - keep_entries, self.memory.first_index() - 1)
        if compact_to >= self.memory.first_index():
            self.memory.compact(compact_to)

    def begin_snapshot(self, *, index: int, conf_state: raft.ConfState, data: bytes) -> PendingSnapshot:
        """Start writing a snapshot of the applied state at ``index`` on the worker thread;
        nothing else changes until :meth:`finish_snapshot`."""
        meta = disk.SnapshotMeta(index, self.memory.term(index), _encode_membership(conf_state))
        snapshot = disk.Snapshot(meta, data)
        return PendingSnapshot(index, conf_state, data, snapshot, self.disk.write_snapshot(snapshot))

    def finish_snapshot(self, pending: PendingSnapshot, *, keep_entries: int) -> bool:
        """The file of ``pending`` is written (its future is done): adopt it and compact both logs.
        Raises the write's error; False (nothing changes) when a snapshot installed from the leader
        meanwhile covers it or the storage is closed.

        The hard state's commit index is not rewritten: recovery takes the commit index to be at
        least the snapshot's."""
        pending.written.result()
        if self.closed or pending.index <= self.memory.snapshot().meta.index:
            return False
        self.memory.create_snapshot(pending.index, pending.conf_state, pending.data)
        if not self.disk.adopt_snapshot(pending.disk_snapshot, keep_entries=keep_entries):
            return False
        compact_to = max(pending.index - keep_entries, self.memory.first_index() - 1)
        if compact_to >= self.memory.first_index():
            self.memory.compact(compact_to)
        return True

    def close(self) -> None:
        self.closed = True
        self.disk.close()


def restore_from_snapshot(
    data_dir: Path, *, index: int, term: int, members: raft.ConfState, state: bytes
) -> None:
    """Bootstrap an empty data directory from a backup's state before the node first starts.

    The hard state's term is set to the snapshot's so that new entries never carry a lower term
    than the ones before them.
    """
    storage = DurableRaftStorage(data_dir, bootstrap=members)
    try:
        if storage.has_state:
            raise FileExistsError(f"{data_dir} already holds Raft state; restore needs an empty directory")
        storage.install_snapshot(raft.Snapshot(raft.SnapshotMeta(index, term, members), state))
        storage.disk.save_hard_state(disk.HardState(term, None, index))
        storage.sync()
    finally:
        storage.close()
