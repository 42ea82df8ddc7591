"""MemoryStorage: the Storage protocol semantics a durable storage must also follow."""

from __future__ import annotations

import pytest

from hive_runtime.raft import CompactedError, MemoryStorage, UnavailableError
from hive_runtime.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMeta


def _storage(last: int) -> MemoryStorage:
    storage = MemoryStorage(ConfState(frozenset({1, 2, 3})))
    storage.append([Entry(1 + i // 3, i) for i in range(1, last + 1)])
    return storage


def test_append_replaces_conflicting_suffix() -> None:
    storage = _storage(6)
    storage.append([Entry(9, 4), Entry(9, 5)])
    assert storage.last_index() == 5
    assert [storage.term(i) for i in range(4, 6)] == [9, 9]


def test_append_with_gap_is_refused() -> None:
    storage = _storage(3)
    with pytest.raises(UnavailableError):
        storage.append([Entry(1, 9)])


def test_snapshot_then_compaction_keeps_the_tail() -> None:
    storage = _storage(10)
    storage.create_snapshot(6, ConfState(frozenset({1, 2, 3})), b"image")
    storage.compact(4)
    assert storage.first_index() == 5
    assert storage.term(4) == 2 and storage.snapshot().meta.index == 6
    with pytest.raises(CompactedError):
        storage.entries(3, 6)
    assert [e.index for e in storage.entries(5, 11)] == list(range(5, 11))
    with pytest.raises(UnavailableError):
        storage.compact(8)  # beyond the snapshot


def test_apply_snapshot_replaces_everything() -> None:
    storage = _storage(5)
    snapshot = Snapshot(SnapshotMeta(20, 4, ConfState(frozenset({1, 2}))), b"s")
    storage.apply_snapshot(snapshot)
    assert (storage.first_index(), storage.last_index(), storage.term(20)) == (21, 20, 4)
    assert storage.initial_state()[1] == ConfState(frozenset({1, 2}))
    storage.set_hard_state(HardState(4, 2, 20))
    assert storage.initial_state()[0] == HardState(4, 2, 20)
