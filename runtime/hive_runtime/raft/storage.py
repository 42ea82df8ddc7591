"""The storage protocol the core reads from, and :class:`MemoryStorage`, its in-memory implementation.

Like etcd-io/raft's ``Storage``: the core only *reads* stable state through :class:`Storage`;
the driver *writes* what each ``Ready`` asks it to persist (append entries, set hard state,
apply a snapshot) and may compact the log after taking a state-machine snapshot. A durable,
WAL-backed storage implements the same protocol.
"""

from __future__ import annotations

from typing import Protocol

from hive_runtime.raft.errors import CompactedError, UnavailableError
from hive_runtime.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMeta


class Storage(Protocol):
    """Read side of stable storage. Indices are 1-based; index 0 is the empty log's origin."""

    def initial_state(self) -> tuple[HardState, ConfState]:
        """The persisted hard state and the membership as of the latest snapshot."""
        ...

    def entries(self, lo: int, hi: int) -> list[Entry]:
        """Entries with ``lo <= index < hi``. Raises CompactedError / UnavailableError."""
        ...

    def term(self, index: int) -> int:
        """Term of the entry at ``index`` (``first_index() - 1`` gives the snapshot's term)."""
        ...

    def first_index(self) -> int:
        """Index of the first entry still available (snapshot index + 1)."""
        ...

    def last_index(self) -> int:
        """Index of the last entry (snapshot index when the log after it is empty)."""
        ...

    def snapshot(self) -> Snapshot:
        """The most recent snapshot (possibly the empty snapshot at index 0)."""
        ...


class MemoryStorage:
    """In-memory :class:`Storage` plus the write methods a driver calls.

    ``conf_state`` bootstraps a brand-new cluster member set (an empty snapshot at index 0
    carrying the initial membership); a node joining an existing cluster starts empty.
    """

    def __init__(self, conf_state: ConfState | None = None) -> None:
        self._hard_state = HardState()
        self._snapshot = Snapshot(SnapshotMeta(0, 0, conf_state or ConfState()), b"")
        self._offset = 0  # index of the last compacted entry (or of the snapshot)
        self._offset_term = 0
        self._entries: list[Entry] = []

    # -- read side (Storage protocol) --------------------------------------------------------
    def initial_state(self) -> tuple[HardState, ConfState]:
        return self._hard_state, self._snapshot.meta.conf_state

    def first_index(self) -> int:
        return self._offset + 1

    def last_index(self) -> int:
        return self._offset + len(self._entries)

    def term(self, index: int) -> int:
        offset = self._offset
        if index < offset:
            raise CompactedError(f"index {index} is compacted (log starts after {offset})")
        if index == offset:
            return self._offset_term
        if index > offset + len(self._entries):
            raise UnavailableError(f"index {index} is beyond last index {self.last_index()}")
        return self._entries[index - offset - 1].term

    def entries(self, lo: int, hi: int) -> list[Entry]:
        offset = self._offset
        if lo <= offset:
            raise CompactedError(f"index {lo} is compacted (log starts after {offset})")
        if hi > offset + len(self._entries) + 1:
            raise UnavailableError(f"entries up to {hi - 1} requested, last is {self.last_index()}")
        return self._entries[lo - offset - 1 : hi - offset - 1]

    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def hard_state(self) -> HardState:
        return self._hard_state

    # -- write side (called by the driver) ---------------------------------------------------
    def set_hard_state(self, hard_state: HardState) -> None:
        self._hard_state = hard_state

    def append(self, entries: list[Entry] | tuple[Entry, ...]) -> None:
        """Append ``entries``, replacing any existing suffix they conflict with."""
        if not entries:
            return
        offset = self._offset
        first = entries[0].index
        if first + len(entries) - 1 <= offset:
            return  # entirely covered by the compacted prefix
        if first <= offset:
            entries = entries[offset + 1 - first :]
            first = offset + 1
        if first > self.last_index() + 1:
            raise UnavailableError(f"append at {first} leaves a gap after {self.last_index()}")
        del self._entries[first - offset - 1 :]
        self._entries.extend(entries)

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole log by ``snapshot`` (a snapshot received from the leader)."""
        if snapshot.meta.index < self._snapshot.meta.index:
            return
        self._snapshot = snapshot
        self._offset = snapshot.meta.index
        self._offset_term = snapshot.meta.term
        self._entries = []

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Record a state-machine snapshot taken at applied ``index``; entries are kept."""
        if index <= self._snapshot.meta.index:
            return self._snapshot
        self._snapshot = Snapshot(SnapshotMeta(index, self.term(index), conf_state), data)
        return self._snapshot

    def compact(self, index: int) -> None:
        """Drop entries up to ``index``, which must be covered by the latest snapshot."""
        if index > self._snapshot.meta.index:
            raise UnavailableError(f"cannot compact to {index}: snapshot is at {self._snapshot.meta.index}")
        if index <= self._offset:
            return
        term = self.term(index)
        self._entries = self._entries[index - self._offset :]
        self._offset = index
        self._offset_term = term
