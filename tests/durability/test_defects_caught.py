"""Teeth: the durability simulation fails on each durability defect, injected from here.

None of these defects exists in the product; each is injected from outside (a driver subclass,
a storage proxy, a WAL subclass patched into ``NodeStorage``, the old ``makedirs``), and the
simulation must find a violation within a bounded number of seeds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from hive_sim.durability import run_seeds

from hive_runtime import raft
from hive_runtime.node.driver import RaftDriver
from hive_runtime.storage import OsFileOps, hardstate, node_storage, snapshots, wal_recovery
from hive_runtime.storage.snapshots import Snapshot
from hive_runtime.storage.wal import WriteAheadLog

WITHIN_SEEDS = 40


class _StorageThatNeverSyncs:
    """The driver's storage, with ``sync`` doing nothing (and reporting nothing synced)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def sync(self) -> bool:
        return False

    def begin_sync(self) -> None:  # the driver's way when it fsyncs off the loop
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class SkipsTheSync(RaftDriver):
    """(a) A driver that never calls ``storage.sync()``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.storage = _StorageThatNeverSyncs(self.storage)  # type: ignore[assignment]


class AcknowledgesBeforePersisting(RaftDriver):
    """(b) A driver that sends votes and acknowledgements before it writes and syncs."""

    def process_ready(self) -> None:
        while self.node.has_ready():
            ready = self.node.ready()
            self._send_all(ready.early_messages + ready.messages)
            self._persist(ready)
            self._apply_ready(ready)
            if ready.must_sync:
                self.storage.sync()
            self.node.advance(ready)
        self._maybe_snapshot()


class AcknowledgesBeforeTheOffLoopSync(RaftDriver):
    """(d) A driver that fsyncs off the loop (the node's way; the odd seeds) but sends the Ready's
    acknowledgements and advances as soon as it hands the fsync over, not once it has returned."""

    def _sync_off_loop(self, ready: raft.Ready, sync: Callable[[], object]) -> None:
        self._finish_ready(ready)
        later = asyncio.get_running_loop().run_in_executor(self._sync_executor, sync)
        later.add_done_callback(lambda done: done.cancelled() or done.exception())  # nobody waits


class SkipsTheRotationDirectoryFsync(WriteAheadLog):
    """(c) A WAL that forgets, after a rotation, that the directory needs an fsync (the rename of
    the new segment is then never made durable by ``sync``)."""

    def _rotate(self, *, next_index: int) -> None:
        super()._rotate(next_index=next_index)
        self._dir_dirty = False


def _first_failure(
    driver_class: Callable[..., RaftDriver] = RaftDriver, *, within: int = WITHIN_SEEDS
) -> int | None:
    results, _ = run_seeds(range(1, within + 1), driver_class=driver_class, stop_at_first_failure=True)
    failing = [result for result in results if not result.ok]
    return failing[0].seed if failing else None


def test_a_driver_that_skips_the_sync_is_caught() -> None:
    assert _first_failure(SkipsTheSync) is not None


def test_a_driver_that_acknowledges_before_persisting_is_caught() -> None:
    assert _first_failure(AcknowledgesBeforePersisting) is not None


def test_a_driver_that_acknowledges_before_its_off_loop_sync_returned_is_caught() -> None:
    # the odd seeds fsync off the loop (hive_sim.durability.run.profile_for); found at seed 1
    assert _first_failure(AcknowledgesBeforeTheOffLoopSync) is not None


def test_a_wal_that_skips_the_directory_fsync_at_rotation_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_storage, "WriteAheadLog", SkipsTheRotationDirectoryFsync)
    assert _first_failure() is not None


def test_directories_created_without_a_parent_fsync_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defect the simulation found in the product (fixed): ``makedirs`` without fsyncing the parent."""

    def plain_makedirs(ops: OsFileOps, path: Path) -> None:
        ops.makedirs(path)

    for module in (hardstate, snapshots, wal_recovery):
        monkeypatch.setattr(module, "makedirs_durably", plain_makedirs)
    assert _first_failure() is not None


def test_compacting_the_log_before_the_snapshot_file_is_durable_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(e) Snapshot files are written on a worker thread; a node that compacts its WAL as soon
    as the write starts (not once it is durable) loses entries no snapshot covers yet. The window
    is one simulated worker job (0.5-5 ms), so a crash must land inside it: seed 102 is the first
    to catch it, hence the larger budget."""
    write_snapshot = node_storage.NodeStorage.write_snapshot

    def compacts_at_once(self: node_storage.NodeStorage, snapshot: Snapshot) -> Future[Path]:
        written = write_snapshot(self, snapshot)
        self.adopt_snapshot(snapshot, keep_entries=0)
        return written

    monkeypatch.setattr(node_storage.NodeStorage, "write_snapshot", compacts_at_once)
    assert _first_failure(within=150) is not None
