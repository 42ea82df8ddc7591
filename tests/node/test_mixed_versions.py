"""A mixed-version cluster of real processes keeps equal digests, because clusterVersion gates
new entry types; a leader that ignores clusterVersion makes the replicas differ (the teeth).

Node 3 runs the previous release (``tests/node/builds.py previous``: version 0.0.9, no
``AUDIT_TICK``). Orders followed by quiet periods make an audit tick due on the leader again and
again; while node 3 runs the old build the leader must not propose one. Then node 3 is upgraded
in place, ``clusterVersion`` rises, and the ticks flow, on every replica alike.

The comparison does not depend on timing. A tick only matters while the records it would sign
are still unsigned: the next order after a quiet spell checkpoints them anyway, on every replica
alike, and the replicas' states agree again. So the test ends with orders until the leader's
chain holds unsigned records (``hive_audit_unsigned_records``), submits nothing more, and waits
until either the leader counted a tick due and held (``hive_audit_ticks_total{outcome="held"}``,
the gated build) or its unsigned records were signed, which with no order in flight only an
applied tick does (a leader that ignores clusterVersion). It then compares the digests at the
first digest point at or after the leader's last index, reached with register writes only (no
trading command, so nothing else signs the records): equal when gated; when a tick went through,
the old replica answered it as an unknown entry and still holds the unsigned records, so its
digest differs, every run.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

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


async def _metrics(cluster: LocalCluster, node_id: int) -> dict[str, float]:
    url = f"http://{cluster.host(node_id)}:{cluster.ports['metrics']}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


UNSIGNED = "hive_audit_unsigned_records"
HELD = "hive_audit_ticks_total{outcome=held}"


async def _leave_unsigned_records(cluster: LocalCluster, leader: int) -> dict[str, float]:
    """Orders until one leaves the leader's chain with unsigned records (an order after a quiet
    spell signs everything itself, the next one does not); returns the leader's metrics then."""
    async with cluster.client(operator=True, deadline=30) as operator:
        for attempt in range(50):
            await operator.submit(NewOrderSingle(0, "a", f"last-{attempt}", "X", 1, 2, 1, 100))
            samples = await _metrics(cluster, leader)
            if samples[UNSIGNED] > 0:
                return samples
    raise AssertionError("no order left unsigned records on the leader")


async def _tick_due_then_held_or_applied(cluster: LocalCluster, leader: int, held_before: float) -> bool:
    """Wait (no order in flight) until the leader held a due tick (True) or signed its records,
    which only an applied tick does now (False)."""
    samples: dict[str, float] = {}
    try:
        async with asyncio.timeout(20):
            while True:
                samples = await _metrics(cluster, leader)
                if samples.get(HELD, 0) > held_before:
                    return True
                if samples[UNSIGNED] == 0:
                    return False
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"no audit tick fell due on the leader: {samples.get(HELD)}") from None


async def _digests_at_or_after(cluster: LocalCluster, index: int) -> tuple[int, dict[int, str]]:
    """Every node's digest at the first digest point at or after ``index`` that all recorded,
    reached with register writes only (they change no trading or audit state)."""
    interval = cluster.digest_interval
    first = -(-index // interval) * interval
    writes = 0
    async with asyncio.timeout(30), cluster.client(deadline=30) as client:
        while True:
            statuses = await cluster.statuses()
            applied = {status["appliedIndex"] for status in statuses.values()}
            if len(statuses) == len(cluster.nodes) and len(applied) == 1:
                reached = applied.pop()
                for point in range(first, reached + 1, interval):
                    answers = {n: await cluster.admin(n, "GET", f"/digest?index={point}") for n in statuses}
                    if all(code == 200 for code, _ in answers.values()):
                        return point, {n: body["digest"] for n, (_, body) in answers.items()}
            await client.put("pad", writes)
            writes += 1


async def _lead_from_a_new_build(cluster: LocalCluster) -> int:
    leader = await cluster.wait_ready(within=60)
    if leader == OLD:
        await cluster.admin(OLD, "POST", "/leadership/transfer", {"target": 1, "waitSeconds": 5})
        leader = await cluster.wait_ready(within=30)
    assert leader != OLD
    return leader


async def _mixed_cluster(cluster: LocalCluster, *, new_build: list[str] | None) -> dict[str, Any]:
    """Run node 3 on the previous release beside two nodes of ``new_build``, make an audit tick
    due on the leader with unsigned records and no order after them, and compare digests after."""
    for node_id in (1, 2):
        cluster.start(node_id, program=new_build)
    cluster.start(OLD, program=[*BUILDS, "previous"])
    leader = await _lead_from_a_new_build(cluster)
    await _wait_status(cluster, lambda s: all(v["clusterVersion"] == "0.0.9" for v in s.values()))
    async with cluster.client(operator=True, deadline=30) as operator:
        await operator.submit(AddInstrument(0, "X", tick_size=1, lot_size=1, reference_price=100))
        await operator.submit(AddAccount(0, "a"))
    await _trade_then_idle(cluster, "old", rounds=2)
    samples = await _leave_unsigned_records(cluster, leader)
    held = await _tick_due_then_held_or_applied(cluster, leader, samples.get(HELD, 0))
    last_index = (await cluster.admin(leader, "GET", "/status"))[1]["lastLogIndex"]
    index, digests = await _digests_at_or_after(cluster, last_index)
    unsigned = {n: (await _metrics(cluster, n))[UNSIGNED] for n in cluster.nodes}
    return {"leader": leader, "held": held, "index": index, "digests": digests, "unsigned": unsigned}


async def test_mixed_versions_keep_equal_digests_and_an_upgrade_raises_the_cluster_version(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster("mixed", extra_config={"audit_checkpoint_interval_ms": 200})
    mixed = await _mixed_cluster(cluster, new_build=None)
    assert len(set(mixed["digests"].values())) == 1, mixed
    # Not vacuous: a tick fell due with unsigned records on every replica, and the leader held it.
    assert mixed["held"] and all(count > 0 for count in mixed["unsigned"].values()), mixed
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


async def test_teeth_a_leader_that_ignores_the_cluster_version_splits_the_digests(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    """The same run with a leader that proposes audit ticks whatever clusterVersion says: the tick
    signs the records on the current builds, the old replica ignores it, and the digests differ
    (the check the test above makes fails), every run."""
    cluster = make_cluster("ungated", extra_config={"audit_checkpoint_interval_ms": 200})
    mixed = await _mixed_cluster(cluster, new_build=[*BUILDS, "ungated"])
    assert not mixed["held"], mixed
    assert len(set(mixed["digests"].values())) > 1, f"the old replica applied what it could not: {mixed}"
    assert mixed["unsigned"][OLD] > 0 and all(mixed["unsigned"][n] == 0 for n in (1, 2)), mixed
