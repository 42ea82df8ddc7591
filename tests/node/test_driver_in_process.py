"""The Ready loop on real storage: three drivers in one event loop, messages passed in memory.

No sockets here (the transport has its own tests); this pins down the driver's own duties:
persist before send, apply and answer proposals, reads after a ReadIndex, snapshots and
compaction, and recovery of state from disk.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from hive_runtime import raft
from hive_runtime.node.driver import NotLeader, RaftDriver
from hive_runtime.node.durable import DurableRaftStorage
from hive_runtime.node.state import (
    NodeStateMachine,
    batch_entry,
    decode_register_result,
    encode_register_result,
    is_batch,
    register_cas,
    register_put,
)
from hive_runtime.storage import Snapshot, SnapshotStore

VOTERS = raft.ConfState(frozenset({1, 2, 3}))


class InProcessCluster:
    def __init__(
        self, root: Path, *, snapshot_every: int = 10_000, sync_executor: Executor | None = None
    ) -> None:
        self.root = root
        self.snapshot_every = snapshot_every
        self.sync_executor = sync_executor
        self.drivers: dict[int, RaftDriver] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.down: set[int] = set()

    def start(self, node_id: int) -> RaftDriver:
        storage = DurableRaftStorage(self.root / f"n{node_id}", bootstrap=VOTERS)
        driver = RaftDriver(
            raft_config=raft.RaftConfig(node_id=node_id, election_ticks=10, heartbeat_ticks=1),
            storage=storage,
            state=NodeStateMachine(register_space=True),
            rng=random.Random(node_id),
            send=self._deliver,
            snapshot_every=self.snapshot_every,
            keep_entries=5,
            sync_executor=self.sync_executor,
        )
        self.drivers[node_id] = driver
        self.down.discard(node_id)
        self.tasks[node_id] = asyncio.get_running_loop().create_task(driver.run())
        return driver

    def stop(self, node_id: int) -> None:
        self.tasks.pop(node_id).cancel()
        self.drivers.pop(node_id).storage.close()
        self.down.add(node_id)

    def _deliver(self, message: raft.Message) -> None:
        wire = message.to_wire()
        loop = asyncio.get_running_loop()
        loop.call_soon(self._receive, message.to, wire)

    def _receive(self, node_id: int, wire: object) -> None:
        driver = self.drivers.get(node_id)
        if driver is not None:
            driver.step(raft.Message.from_wire(wire))

    async def ticker(self) -> None:
        while True:
            await asyncio.sleep(0.002)
            for driver in list(self.drivers.values()):
                driver.tick()

    async def leader(self) -> RaftDriver:
        async with asyncio.timeout(10):
            while True:
                leaders = [d for d in self.drivers.values() if d.is_leader]
                if len(leaders) == 1:
                    return leaders[0]
                await asyncio.sleep(0.005)

    async def write(self, data: bytes) -> bytes:
        async with asyncio.timeout(10):
            while True:
                leader = await self.leader()
                try:
                    return await leader.propose(data)
                except NotLeader:
                    await asyncio.sleep(0.01)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[InProcessCluster]:
    group = InProcessCluster(tmp_path, snapshot_every=50)
    for node_id in (1, 2, 3):
        group.start(node_id)
    ticker = asyncio.get_running_loop().create_task(group.ticker())
    yield group
    ticker.cancel()
    for node_id in list(group.drivers):
        group.stop(node_id)


async def _settle(cluster: InProcessCluster, index: int) -> None:
    async with asyncio.timeout(10):
        while any(driver.applied_index < index for driver in cluster.drivers.values()):
            await asyncio.sleep(0.005)


async def test_writes_commit_and_every_replica_reaches_the_same_digest(cluster: InProcessCluster) -> None:
    for value in range(20):
        ok, stored = decode_register_result(await cluster.write(register_put("k", value)))
        assert ok and stored == value
    leader = await cluster.leader()
    await _settle(cluster, leader.applied_index)
    digests = {driver.state.digest() for driver in cluster.drivers.values()}
    assert len(digests) == 1
    assert all(driver.state.read_register("k") == 19 for driver in cluster.drivers.values())


async def test_compare_and_set_answers_with_the_current_value(cluster: InProcessCluster) -> None:
    await cluster.write(register_put("x", 1))
    assert decode_register_result(await cluster.write(register_cas("x", expected=1, value=2))) == (True, 2)
    assert decode_register_result(await cluster.write(register_cas("x", expected=1, value=3))) == (False, 2)


async def test_follower_refuses_proposals_with_a_leader_hint(cluster: InProcessCluster) -> None:
    leader = await cluster.leader()
    await cluster.write(register_put("k", 1))
    follower = next(driver for driver in cluster.drivers.values() if driver is not leader)
    with pytest.raises(NotLeader) as refused:
        follower.propose(register_put("k", 2))
    assert refused.value.leader_id == leader.node.id


async def test_read_barrier_returns_after_applying_the_confirmed_index(cluster: InProcessCluster) -> None:
    leader = await cluster.leader()
    await cluster.write(register_put("r", "v"))
    index = await leader.read_barrier()
    assert leader.applied_index >= index
    assert leader.state.read_register("r") == "v"


async def test_snapshots_compact_the_log_and_a_lagging_node_catches_up(cluster: InProcessCluster) -> None:
    leader = await cluster.leader()
    lagging = next(node_id for node_id in cluster.drivers if cluster.drivers[node_id] is not leader)
    cluster.stop(lagging)
    for value in range(200):
        await cluster.write(register_put(f"k{value % 7}", value))
    assert leader.snapshot_index > 0 and leader.storage.first_index() > 1
    rejoined = cluster.start(lagging)
    leader = await cluster.leader()
    await _settle(cluster, leader.applied_index)
    assert rejoined.state.digest() == leader.state.digest()
    assert rejoined.snapshot_index > 0


async def test_restarted_node_recovers_state_from_its_own_disk(cluster: InProcessCluster) -> None:
    for value in range(120):
        await cluster.write(register_put("k", value))
    leader = await cluster.leader()
    await _settle(cluster, leader.applied_index)
    for node_id in (1, 2, 3):
        cluster.stop(node_id)
    for node_id in (1, 2, 3):
        cluster.start(node_id)
    await cluster.write(register_put("after", True))
    leader = await cluster.leader()
    await _settle(cluster, leader.applied_index)
    assert {driver.state.read_register("k") for driver in cluster.drivers.values()} == {119}
    assert len({driver.state.digest() for driver in cluster.drivers.values()}) == 1


async def test_proposals_of_one_iteration_share_one_batch_entry_with_their_own_outcomes(
    cluster: InProcessCluster,
) -> None:
    leader = await cluster.leader()
    await cluster.write(register_put("c", 0))
    before = leader.node.log.last_index()
    futures = [leader.propose(register_cas("c", expected=step, value=step + 1)) for step in range(5)]
    futures.append(leader.propose(register_cas("c", expected=0, value=99)))  # stale: must fail
    outcomes = [decode_register_result(outcome) for outcome in await asyncio.gather(*futures)]
    assert outcomes == [(True, 1), (True, 2), (True, 3), (True, 4), (True, 5), (False, 5)]
    assert leader.node.log.last_index() == before + 1  # six commands, one entry
    (entry,) = leader.storage.entries(before + 1, before + 2)
    assert is_batch(entry.data)
    await _settle(cluster, leader.applied_index)
    assert {driver.state.read_register("c") for driver in cluster.drivers.values()} == {5}
    assert len({driver.state.digest() for driver in cluster.drivers.values()}) == 1


async def test_batches_are_split_at_the_configured_size(cluster: InProcessCluster) -> None:
    leader = await cluster.leader()
    leader.batch_max_items = 4
    await cluster.write(register_put("s", 0))
    before = leader.node.log.last_index()
    outcomes = await asyncio.gather(*(leader.propose(register_put(f"s{i}", i)) for i in range(10)))
    assert [decode_register_result(outcome) for outcome in outcomes] == [(True, i) for i in range(10)]
    assert leader.node.log.last_index() == before + 3  # 4 + 4 + 2


def test_a_batch_that_does_not_decode_applies_nothing() -> None:
    state = NodeStateMachine(register_space=True)
    assert state.apply_batch(7, batch_entry([register_put("k", 1)])) == [
        encode_register_result(ok=True, value=1)
    ]
    assert state.apply_batch(8, b"\x03\xc1") == []
    assert state.apply_batch(9, batch_entry([batch_entry([register_put("k", 2)])])) == []  # no nesting
    assert state.read_register("k") == 1 and state.applied_index == 9


async def test_snapshot_files_are_written_off_the_loop_and_a_due_digest_point_is_captured_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a snapshot capture (the node's forked one, here inline), the snapshot file is written
    on the storage's worker thread and the log is compacted only once it is durable; a digest
    point where a snapshot is due is captured once, by the snapshot capture."""
    loop_thread = threading.get_ident()
    writers: list[int] = []
    save = SnapshotStore.save

    def recording_save(self: SnapshotStore, snapshot: Snapshot) -> Path:
        writers.append(threading.get_ident())
        return save(self, snapshot)

    monkeypatch.setattr(SnapshotStore, "save", recording_save)
    loop = asyncio.get_running_loop()
    state = NodeStateMachine(register_space=True)
    snapshot_captures: list[int] = []
    digest_points: list[int] = []

    def capture(index: int, done: Callable[[int, bytes | None], None]) -> bool:
        snapshot_captures.append(index)
        loop.call_soon(done, index, state.snapshot())
        return True

    storage = DurableRaftStorage(tmp_path / "n1", bootstrap=raft.ConfState(frozenset({1})))
    driver = RaftDriver(
        raft_config=raft.RaftConfig(node_id=1, election_ticks=10, heartbeat_ticks=1),
        storage=storage,
        state=state,
        rng=random.Random(1),
        send=lambda message: None,
        snapshot_every=10,
        keep_entries=0,
        capture_every=10,
        on_capture_point=digest_points.append,
        snapshot_capture=capture,
    )
    task = loop.create_task(driver.run())
    try:
        async with asyncio.timeout(10):
            while not driver.is_leader:
                driver.tick()
                await asyncio.sleep(0.001)
            while driver.applied_index < 10:  # one at a time: each entry its own Ready
                await driver.propose(register_put("k", driver.applied_index))
            while driver.snapshot_index < 10:
                await asyncio.sleep(0.001)
    finally:
        task.cancel()
        storage.close()
    assert 10 in snapshot_captures and 10 not in digest_points
    assert writers and loop_thread not in writers
    assert driver.snapshot_index == 10 and storage.first_index() == 11


class _GatedSyncThread(Executor):
    """A ``wal-sync`` thread whose fsyncs wait while ``gate`` is closed (a very slow disk)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.started = 0
        self._pool = ThreadPoolExecutor(max_workers=1)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.started += 1

        def gated() -> Any:
            self.gate.wait()
            return fn(*args, **kwargs)

        return self._pool.submit(gated)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.gate.set()
        self._pool.shutdown(wait=wait)


async def test_with_the_fsync_off_the_loop_nothing_is_acknowledged_before_it_returns(
    tmp_path: Path,
) -> None:
    """The node's way (``sync_executor``): while every fsync is held, the loop keeps running but
    no follower acknowledges and the write does not commit; once the fsyncs return, it does."""
    sync = _GatedSyncThread()
    group = InProcessCluster(tmp_path, sync_executor=sync)
    for node_id in (1, 2, 3):
        group.start(node_id)
    ticker = asyncio.get_running_loop().create_task(group.ticker())
    try:
        assert decode_register_result(await group.write(register_put("k", 1))) == (True, 1)
        leader = await group.leader()
        await _settle(group, leader.applied_index)
        matched = dict(leader.status().match_index)
        ticker.cancel()  # no ticks while the disk is stuck: no election hides what is checked here
        sync.gate.clear()
        started = sync.started
        write = asyncio.ensure_future(leader.propose(register_put("k", 2)))
        loop = asyncio.get_running_loop()
        for _ in range(20):  # 0.2 s: the loop is not blocked by the held fsyncs
            before = loop.time()
            await asyncio.sleep(0.01)
            assert loop.time() - before < 0.1
        assert sync.started > started  # the fsyncs were handed over and are held
        assert not write.done()
        assert leader.status().match_index == matched  # no follower acknowledged the new entry
        sync.gate.set()
        ticker = asyncio.get_running_loop().create_task(group.ticker())
        assert decode_register_result(await asyncio.wait_for(write, 10)) == (True, 2)
        await _settle(group, leader.applied_index)
        assert {driver.state.read_register("k") for driver in group.drivers.values()} == {2}
    finally:
        ticker.cancel()
        for node_id in list(group.drivers):
            group.tasks[node_id].cancel()
        sync.shutdown()
        for node_id in list(group.drivers):
            group.drivers.pop(node_id).storage.close()
