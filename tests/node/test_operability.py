"""What an operator reads off a real node: thread placement, live metrics, leader surveillance.

- With the event loop pinned (``cpu.pin: force``), no other thread of the process may run on the
  pinned core: the WAL's preallocation and segment-preparation workers, the snapshot writer and
  the default executor are all started after pinning, from the pinned thread, and would inherit
  its one-core affinity unless they move themselves off it. Checked from outside, for every
  thread, in ``/proc/<pid>/task/*/status``.
- ``hive_apply_latency_seconds``, ``hive_raft_leader_changes_total``, ``hive_orders_total`` and
  ``hive_halted_symbols`` move when their events happen.
- The leader's numpy surveillance sees the applied order flow and proposes a halt as a command
  when a trade moves the price far outside the window's returns: every replica then has the
  symbol halted and refuses orders on it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hive_cli.local.cluster import LocalCluster
from hive_runtime.client import Client, ClientError
from hive_runtime.platform import parse_cpu_list
from hive_runtime.trading.commands import AddAccount, AddInstrument, NewOrderSingle
from hive_runtime.trading.types import RejectReason

BUY, SELL, LIMIT = 1, 2, 2


async def _metrics(cluster: LocalCluster, node_id: int) -> dict[str, float]:
    """Every sample of a node's /metrics, keyed ``name{label=value,...}`` (labels sorted)."""
    url = f"http://{cluster.host(node_id)}:{cluster.ports['metrics']}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


async def _eventually(check: Callable[[], Awaitable[bool]], *, within: float, what: str) -> None:
    try:
        async with asyncio.timeout(within):
            while True:
                try:
                    if await check():
                        return
                except (aiohttp.ClientError, OSError):
                    pass
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"{what} (within {within} s)") from None


def _thread_affinities(pid: int) -> dict[int, frozenset[int]]:
    affinities: dict[int, frozenset[int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:  # the thread exited meanwhile
            continue
        for line in status.splitlines():
            if line.startswith("Cpus_allowed_list:"):
                affinities[int(task.name)] = frozenset(parse_cpu_list(line.split(":", 1)[1].strip()))
    return affinities


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two cores")
async def test_no_thread_but_the_event_loop_runs_on_the_pinned_core(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(
        "pin",
        replicas=1,
        snapshot_every=200,  # snapshot files: the snapshot writer thread
        extra_config={"cpu": {"pin": "force"}, "storage": {"segment_bytes": 64 * 1024}},
    )
    cluster.start_all()
    await cluster.wait_ready(within=60)
    async with cluster.client(deadline=30) as client:
        for value in range(600):  # ~64 KiB segments rotate: preallocation and preparation run
            await client.put(f"k{value % 7}", "x" * 200)
    code, status = await cluster.admin(1, "GET", "/status")
    assert code == 200 and status["cpu"]["pinned"], status["cpu"]
    pinned = status["cpu"]["pinnedCore"]
    assert status["snapshotIndex"] > 0
    process = cluster.nodes[1].process
    assert process is not None
    affinities = _thread_affinities(process.pid)
    workers = {tid: cores for tid, cores in affinities.items() if tid != process.pid}
    assert affinities[process.pid] == {pinned}, "the event loop thread is pinned"
    assert len(workers) >= 2, f"expected the WAL and snapshot workers, found {affinities}"
    on_pinned = {tid: sorted(cores) for tid, cores in workers.items() if pinned in cores}
    assert not on_pinned, f"threads allowed on the pinned core {pinned}: {on_pinned}"


async def _setup_market(client: Client) -> None:
    await client.submit(AddInstrument(0, "X", tick_size=1, lot_size=1, reference_price=100))
    for account in ("a", "b"):
        await client.submit(AddAccount(0, account))


async def _trade(client: Client, price: int, n: int) -> None:
    await client.submit(NewOrderSingle(0, "b", f"s{n}", "X", SELL, LIMIT, 1, price))
    await client.submit(NewOrderSingle(0, "a", f"b{n}", "X", BUY, LIMIT, 1, price))


async def test_surveillance_halts_a_symbol_after_an_extreme_move_and_the_metrics_are_live(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(
        "surv",
        extra_config={"surveillance": {"evaluate_every_ms": 200, "min_returns": 8, "window_seconds": 60}},
    )
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    async with cluster.client(operator=True, deadline=30) as client:
        await _setup_market(client)
        for n in range(12):  # returns alternate +-1%
            await _trade(client, 100 + n % 2, n)
        before = await _metrics(cluster, leader)
        assert before["hive_halted_symbols"] == 0
        await _trade(client, 150, 99)  # a +40% return: far beyond the z-score halt threshold

        async def halted_everywhere() -> bool:
            samples = [await _metrics(cluster, node) for node in cluster.nodes]
            return all(sample["hive_halted_symbols"] == 1 for sample in samples)

        await _eventually(halted_everywhere, within=30, what="no replica reported the symbol halted")
        refused = await client.submit(NewOrderSingle(0, "a", "after", "X", BUY, LIMIT, 1, 150))
        assert refused.outcome is not None
        assert refused.outcome.reject_reason == RejectReason.SYMBOL_HALTED

    for node in cluster.nodes:

        async def counted(node: int = node) -> bool:
            samples = await _metrics(cluster, node)
            return samples.get("hive_orders_total{reason=symbol_halted,result=rejected}", 0) >= 1

        await _eventually(counted, within=10, what=f"node {node}: the refused order is not counted")
        samples = await _metrics(cluster, node)
        assert samples["hive_orders_total{reason=none,result=accepted}"] >= 2 * 13 + 3
        assert samples["hive_apply_latency_seconds_count"] >= 2 * 13 + 3
        assert samples["hive_raft_leader_changes_total"] >= 1  # the first election
    log = cluster.nodes[leader].log_path.read_text()
    assert "surveillance proposed SetSymbolHalt" in log, cluster.log_tail(leader, 30)

    # A leader change is counted on the replicas that see it.
    survivor = next(node for node in cluster.nodes if node != leader)
    changes = (await _metrics(cluster, survivor))["hive_raft_leader_changes_total"]
    cluster.kill(leader)
    new_leader = await cluster.wait_ready(within=60)
    assert new_leader != leader

    async def change_counted() -> bool:
        return (await _metrics(cluster, survivor))["hive_raft_leader_changes_total"] > changes

    await _eventually(change_counted, within=10, what="the leader change is not counted")


async def test_a_production_node_has_no_register_space_for_any_certificate(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    """Without ``register_space`` (the operator never renders it) the register operations are
    refused for traders and the operator alike, and the state holds trading state only."""
    cluster = make_cluster("prod", register_space=False)
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    _, before = await cluster.admin(leader, "GET", "/status")
    for operator in (False, True):
        async with cluster.client(operator=operator, deadline=10) as client:
            for attempt in (client.put("k", 1), client.cas("k", expected=None, value=2), client.get("k")):
                with pytest.raises(ClientError, match="register space is disabled"):
                    await attempt
    async with cluster.client(operator=True, deadline=10) as client:
        await _setup_market(client)
    async with cluster.client(deadline=10) as client:  # trading goes on
        placed = await client.submit(NewOrderSingle(0, "a", "o1", "X", BUY, LIMIT, 1, 100))
        assert placed.outcome is not None and placed.outcome.reject_reason == 0
    _, after = await cluster.admin(leader, "GET", "/status")
    assert after["appliedIndex"] > before["appliedIndex"]
