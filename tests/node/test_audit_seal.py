"""A quiet audit trail gets checkpointed: the leader proposes an audit tick, every replica applies it.

From the state machine (ticks are deterministic and may ride in batches), through the sealer on a
real single-node driver with an injected clock, to three real processes whose trails end signed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hive_cli.local.cluster import LocalCluster
from hive_runtime import raft
from hive_runtime.audit.chain import Checkpoint
from hive_runtime.audit.signing import load_public_key
from hive_runtime.audit.verify import verify_trail
from hive_runtime.node.audit_seal import AuditSealer
from hive_runtime.node.driver import RaftDriver
from hive_runtime.node.durable import DurableRaftStorage
from hive_runtime.node.state import (
    NodeStateMachine,
    audit_tick_entry,
    batch_entry,
    decode_register_result,
    is_batch,
    trading_entry,
)
from hive_runtime.trading.codec import encode_command
from hive_runtime.trading.commands import AddAccount, AddInstrument, Command, NewOrderSingle

INTERVAL_MS = 1


def _entry(command: Command) -> bytes:
    return trading_entry(encode_command(command))


SETUP = [AddInstrument(1_000, "X", 1, 1, 100), AddAccount(1_000, "a"), AddAccount(1_000, "b")]


def _orders(count: int, *, start_us: int) -> list[bytes]:
    return [
        _entry(NewOrderSingle(start_us + 10 * i, "ab"[i % 2], f"o{start_us}-{i}", "X", 1 + i % 2, 2, 1, 100))
        for i in range(count)
    ]


def _checkpoints(machine: NodeStateMachine) -> list[Checkpoint]:
    return [item for item in machine.trading.take_audit() if isinstance(item, Checkpoint)]


def test_a_tick_checkpoints_unsigned_records_only_after_the_interval() -> None:
    machine = NodeStateMachine(checkpoint_every=1_000, checkpoint_interval_ms=INTERVAL_MS)
    for index, entry in enumerate([_entry(c) for c in SETUP] + _orders(5, start_us=1_000), start=1):
        machine.apply(index, entry)
    chain = machine.trading.audit
    assert chain.size == 8 and _checkpoints(machine) == []
    assert not chain.idle_checkpoint_due(1_900)  # 900 us after the first record's time
    assert decode_register_result(machine.apply(9, audit_tick_entry(1_900))) == (True, None)
    assert _checkpoints(machine) == []
    assert chain.idle_checkpoint_due(2_000)
    assert decode_register_result(machine.apply(10, audit_tick_entry(2_000))) == (True, 8)
    (checkpoint,) = _checkpoints(machine)
    assert (checkpoint.tree_size, checkpoint.ts_us) == (8, 2_000)
    assert not chain.idle_checkpoint_due(10_000)  # nothing unsigned left
    machine.apply(11, audit_tick_entry(10_000))
    assert _checkpoints(machine) == []


def test_ticks_are_deterministic_also_inside_batches_and_malformed_ones_change_nothing() -> None:
    entries = [_entry(c) for c in SETUP] + _orders(4, start_us=1_000)
    entries.append(
        batch_entry([*_orders(2, start_us=5_000), audit_tick_entry(9_000), *_orders(1, start_us=9_500)])
    )
    replicas = [
        NodeStateMachine(checkpoint_every=1_000, checkpoint_interval_ms=INTERVAL_MS) for _ in range(2)
    ]
    for replica in replicas:
        for index, entry in enumerate(entries, start=1):
            if is_batch(entry):
                outcomes = replica.apply_batch(index, entry)
                assert len(outcomes) == 4 and decode_register_result(outcomes[2]) == (True, 9)
            else:
                replica.apply(index, entry)
    assert replicas[0].digest() == replicas[1].digest()
    # The batch's first order at 5,000 us already checkpointed (command time), the tick at 9,000
    # covered the second order, and the order after it is unsigned again.
    assert [c.tree_size for c in _checkpoints(replicas[0])] == [8, 9]
    assert replicas[0].trading.audit.size == 10
    trading_digest = replicas[0].trading.digest()
    for malformed in (audit_tick_entry(-1), b"\x04", b"\x04\xc1", b"\x04" + b"\xa3abc"):
        ok, _ = decode_register_result(replicas[0].apply(99, malformed))
        assert not ok
        assert replicas[0].trading.digest() == trading_digest


class _Clock:
    def __init__(self, now_us: int) -> None:
        self.now_us = now_us

    def __call__(self) -> int:
        return self.now_us


@pytest.fixture
async def single_node(tmp_path: Path) -> AsyncIterator[RaftDriver]:
    voters = raft.ConfState(frozenset({1}))
    driver = RaftDriver(
        raft_config=raft.RaftConfig(node_id=1, election_ticks=5, heartbeat_ticks=1),
        storage=DurableRaftStorage(tmp_path / "n1", bootstrap=voters),
        state=NodeStateMachine(checkpoint_every=1_000, checkpoint_interval_ms=INTERVAL_MS),
        rng=random.Random(1),
        send=lambda message: None,
    )
    task = asyncio.get_running_loop().create_task(driver.run())
    async with asyncio.timeout(10):
        while not driver.is_leader:
            driver.tick()
            await asyncio.sleep(0.001)
    yield driver
    task.cancel()
    driver.storage.close()


async def _wait_for(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not predicate():
            await asyncio.sleep(0.001)


async def test_the_sealer_proposes_one_tick_when_due_and_the_trail_gets_its_checkpoint(
    single_node: RaftDriver,
) -> None:
    driver = single_node
    state = driver.state
    for entry in [_entry(c) for c in SETUP] + _orders(3, start_us=1_000):
        await driver.propose(entry)
    clock = _Clock(1_500)
    sealer = AuditSealer(
        driver=driver, chain=lambda: state.trading.audit, timestamp_us=clock, sleep=asyncio.sleep
    )
    assert not sealer.propose_if_due()  # records unsigned, but the interval has not passed
    clock.now_us = 2_000
    assert sealer.propose_if_due()
    assert not sealer.propose_if_due()  # one tick in flight at a time
    await _wait_for(lambda: state.trading.audit.last_checkpoint_size == 6)
    assert [c.tree_size for c in _checkpoints(state)] == [6]
    assert not sealer.in_flight  # the tick settled when it applied
    clock.now_us = 50_000
    assert not sealer.propose_if_due()  # everything is checkpointed: no tick, no log entry
    assert sealer.ticks_proposed == 1


async def test_a_due_tick_the_cluster_version_does_not_admit_is_held_and_counted(
    single_node: RaftDriver,
) -> None:
    driver = single_node
    state = driver.state
    for entry in [_entry(c) for c in SETUP] + _orders(3, start_us=1_000):
        await driver.propose(entry)
    last_index = driver.storage.last_index()
    clock = _Clock(1_500)
    counted: list[str] = []
    sealer = AuditSealer(
        driver=driver,
        chain=lambda: state.trading.audit,
        timestamp_us=clock,
        sleep=asyncio.sleep,
        admitted=lambda: False,
        counted=counted.append,
    )
    assert not sealer.propose_if_due() and counted == []  # not due yet: nothing to count
    clock.now_us = 2_000
    assert not sealer.propose_if_due() and not sealer.propose_if_due()
    assert counted == ["held", "held"] and sealer.ticks_held == 2 and sealer.ticks_proposed == 0
    assert driver.storage.last_index() == last_index  # nothing proposed
    assert state.trading.audit.unsigned == 6  # the setup commands and the orders: none signed


async def test_three_real_replicas_end_their_trails_with_a_signed_checkpoint(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(
        "seal",
        replicas=3,
        extra_config={"audit_checkpoint_every": 1_000, "audit_checkpoint_interval_ms": 200},
    )
    cluster.start_all()
    await cluster.wait_ready(within=60)
    async with cluster.client(operator=True, deadline=30) as operator:
        await operator.submit(AddInstrument(0, "X", tick_size=1, lot_size=1, reference_price=100))
        await operator.submit(AddAccount(0, "a"))
        for i in range(5):
            await operator.submit(NewOrderSingle(0, "a", f"o{i}", "X", 1 + i % 2, 2, 1, 100))
    await asyncio.sleep(1.0)  # quiet for 5 checkpoint intervals: the leader's tick seals the trail
    started = time.monotonic()
    cluster.stop_all()
    assert time.monotonic() - started < 30
    for node in cluster.nodes.values():
        trails = sorted((node.data_dir / "audit").glob("*.audit"))
        assert trails, node
        result = verify_trail(trails[-1], load_public_key(node.audit_public_key))
        assert result.ok, result.problem
        assert result.records >= 7
        assert result.unsigned_tail == 0, f"{trails[-1]}: {result.unsigned_tail} records unsigned"
