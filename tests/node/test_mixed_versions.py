"""A mixed-version cluster of real processes keeps equal digests, because clusterVersion gates
new entry types. (The teeth test, a leader that ignores clusterVersion making the replicas drift,
was removed from the suite: whether a tick lands before the compared digest point depends on
timing, and it passed only about 60% of runs; see docs/progress.md, issue 13.)

Node 3 runs the previous release (``tests/node/builds.py previous``: version 0.0.9, no
``AUDIT_TICK``). Orders followed by quiet periods make an audit tick due on the leader again and
again; while node 3 runs the old build the leader must not propose one. Then node 3 is upgraded
in place, ``clusterVersion`` rises, and the ticks flow, on every replica alike.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hive_cli.local.cluster import LocalCluster
from hive_runtime.trading.commands import AddAccount, AddInstrument, NewOrderSingle

BUILDS = [sys.executable, str(Path(__file__).with_name("builds.py"))]
OLD = 3


async def _wait_status(
    cluster: LocalCluster, predicate: Callable[[dict[int, dict[str, Any]]], bool], *, within: float = 30
) -> dict[int, dict[str, Any]]:
    statuses: dict[int, dict[str, Any]] = {}
    try:
        async with asyncio.timeout(within):
            while True:
                statuses = await cluster.statuses()
                if len(statuses) == len(cluster.nodes) and predicate(statuses):
                    return statuses
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"status never matched: {statuses}") from None


async def _trade_then_idle(cluster: LocalCluster, tag: str, rounds: int) -> None:
    """Orders, then a quiet spell longer than the checkpoint interval: a tick falls due each round."""
    async with cluster.client(operator=True, deadline=30) as operator:
        for round_ in range(rounds):
            for i in range(3):
                await operator.submit(
                    NewOrderSingle(0, "a", f"{tag}-{round_}-{i}", "X", 1 + i % 2, 2, 1, 100)
                )
            await asyncio.sleep(0.6)


async def _lead_from_a_new_build(cluster: LocalCluster) -> int:
    leader = await cluster.wait_ready(within=60)
    if leader == OLD:
        await cluster.admin(OLD, "POST", "/leadership/transfer", {"target": 1, "waitSeconds": 5})
        leader = await cluster.wait_ready(within=30)
    assert leader != OLD
    return leader


async def _mixed_cluster_digests(cluster: LocalCluster, *, new_build: list[str] | None) -> set[str]:
    for node_id in (1, 2):
        cluster.start(node_id, program=new_build)
    cluster.start(OLD, program=[*BUILDS, "previous"])
    await _lead_from_a_new_build(cluster)
    await _wait_status(cluster, lambda s: all(v["clusterVersion"] == "0.0.9" for v in s.values()))
    async with cluster.client(operator=True, deadline=30) as operator:
        await operator.submit(AddInstrument(0, "X", tick_size=1, lot_size=1, reference_price=100))
        await operator.submit(AddAccount(0, "a"))
    await _trade_then_idle(cluster, "old", rounds=4)
    _, digests = await cluster.agreed_digests(within=60)
    return set(digests.values())


async def test_mixed_versions_keep_equal_digests_and_an_upgrade_raises_the_cluster_version(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster("mixed", extra_config={"audit_checkpoint_interval_ms": 200})
    assert len(await _mixed_cluster_digests(cluster, new_build=None)) == 1
    statuses = await cluster.statuses()
    assert statuses[OLD]["buildVersion"] == "0.0.9"
    new_version = statuses[1]["buildVersion"]
    assert statuses[2]["buildVersion"] == new_version != "0.0.9"
    assert all(status["clusterVersion"] == "0.0.9" for status in statuses.values())

    # Upgrade node 3 in place: the cluster version rises and audit ticks are admitted again.
    cluster.kill(OLD, sig=signal.SIGTERM)
    cluster.start(OLD)
    await cluster.wait_ready(within=60)
    await _wait_status(cluster, lambda s: all(v["clusterVersion"] == new_version for v in s.values()))
    await _trade_then_idle(cluster, "new", rounds=3)
    _, digests = await cluster.agreed_digests(within=60)
    assert len(set(digests.values())) == 1, digests
    # The ticks did flow after the upgrade: every trail ends sealed by a checkpoint (the leader's
    # tick), which the gate had held back while node 3 was old.
    cluster.stop_all(grace=10)
    from hive_runtime.audit.signing import load_public_key
    from hive_runtime.audit.verify import verify_trail

    for node in cluster.nodes.values():
        trail = sorted((node.data_dir / "audit").glob("*.audit"))[-1]
        result = verify_trail(trail, load_public_key(node.audit_public_key))
        assert result.ok and result.unsigned_tail == 0, (node.node_id, result)
