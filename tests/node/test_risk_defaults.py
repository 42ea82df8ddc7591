"""Cluster-wide risk defaults on real nodes: set through the admin API by the operator only,
replicated, visible in /status as a hash, and enforced on accounts without limits of their own.
While a member runs the release before them, the leader refuses to propose them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hive_cli.local.cluster import LocalCluster
from hive_runtime.contract import RiskDefaults
from hive_runtime.contract.client import Conflict, Forbidden
from hive_runtime.trading.commands import AddAccount, AddInstrument, NewOrderSingle, SetSymbolLimits
from hive_runtime.trading.types import RejectReason

BUILDS = [sys.executable, str(Path(__file__).with_name("builds.py"))]


async def test_defaults_apply_to_accounts_without_limits_and_only_the_operator_sets_them(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster("risk")
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    async with cluster.client(operator=True, deadline=30) as operator:
        await operator.submit(AddInstrument(0, "X", tick_size=1, lot_size=1, reference_price=100))
        await operator.submit(AddAccount(0, "plain"))
        await operator.submit(AddAccount(0, "own"))
        await operator.submit(SetSymbolLimits(0, "own", "*", max_order_qty=1_000))
    statuses = await cluster.statuses()
    assert all(status["riskDefaultsHash"] is None for status in statuses.values())
    async with asyncio.timeout(30):  # the leader admits them once member versions are replicated
        while None in {s["clusterVersion"] for s in (await cluster.statuses()).values()}:
            await asyncio.sleep(0.1)

    # A trader certificate may not change them.
    async with cluster.admin_client(leader, files=cluster.client_tls_files) as trader_admin:
        with pytest.raises(Forbidden):
            await trader_admin.set_risk_defaults(RiskDefaults(max_order_quantity=1))

    async with cluster.admin_client(leader) as admin:
        answer = await admin.set_risk_defaults(RiskDefaults(max_order_quantity=10, credit_limit=1_000_000))
    async with asyncio.timeout(30):
        while {s["riskDefaultsHash"] for s in (await cluster.statuses()).values()} != {answer.hash}:
            await asyncio.sleep(0.1)

    async with cluster.client(deadline=30) as trader:
        over = await trader.submit(NewOrderSingle(0, "plain", "big", "X", 1, 2, 20, 100))
        assert over.outcome is not None and over.outcome.reject_reason == RejectReason.MAX_ORDER_QUANTITY
        within = await trader.submit(NewOrderSingle(0, "plain", "small", "X", 1, 2, 10, 100))
        assert within.outcome is not None and within.outcome.accepted
        own = await trader.submit(NewOrderSingle(0, "own", "big", "X", 1, 2, 20, 100))  # its own limits
        assert own.outcome is not None and own.outcome.accepted
    _, digests = await cluster.agreed_digests(within=60)
    assert len(set(digests.values())) == 1


async def test_the_leader_refuses_defaults_while_a_member_runs_the_release_before(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster("risk-old")
    cluster.start(1)
    cluster.start(2)
    cluster.start(3, program=[*BUILDS, "previous"])
    leader = await cluster.wait_ready(within=60)
    async with asyncio.timeout(30):
        while {s["clusterVersion"] for s in (await cluster.statuses()).values()} != {"0.0.9"}:
            await asyncio.sleep(0.1)
    async with cluster.admin_client(leader) as admin:
        with pytest.raises(Conflict, match="does not admit risk defaults"):
            await admin.set_risk_defaults(RiskDefaults(max_order_quantity=10))
