"""``hive local demo``: a 3-replica cluster trades, loses its leader to SIGKILL, and loses nothing.

Steps: start three real runtime processes with a throwaway CA; set up an instrument and accounts
(operator certificate); several clients submit crossing orders; fills are shown; the leader is
killed with SIGKILL while clients keep writing; the new leader and the failover time are shown;
every acknowledged order is looked up on the new leader; the killed replica restarts and catches
up; all replicas report the same state digest; every audit trail verifies. Exit 0 only if all
of that holds.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from hive_cli.local.cluster import LocalCluster
from hive_runtime.audit.signing import load_public_key
from hive_runtime.audit.verify import verify_trail
from hive_runtime.client import Client, ClientError
from hive_runtime.trading.commands import AddAccount, AddInstrument, NewOrderSingle
from hive_runtime.trading.types import ExecType, OrdType, Side

SYMBOL = "ACME"
ACCOUNTS = ("alpha", "bravo", "charlie", "delta")


@dataclass
class Tally:
    acknowledged: list[tuple[str, str]] = field(default_factory=list)
    accepted: int = 0
    replayed: int = 0
    rejected: int = 0
    fills: int = 0
    filled_qty: int = 0
    failed_attempts: int = 0

    def summary(self) -> str:
        return (
            f"== Orders acknowledged: {len(self.acknowledged)} ({self.accepted} accepted, {self.rejected} "
            f"rejected by risk, {self.replayed} retries answered with their original entry); "
            f"fills: {self.fills} for {self.filled_qty} lots"
        )


async def setup_market(admin: Client) -> None:
    """The instrument and accounts the traders use (needs the operator's certificate)."""
    result = await admin.submit(
        AddInstrument(0, SYMBOL, tick_size=1, lot_size=1, reference_price=10_000, collar_bps=1_000)
    )
    if result.outcome is None or not result.outcome.accepted:
        raise RuntimeError(f"instrument setup failed: {result}")
    for account in ACCOUNTS:
        await admin.submit(AddAccount(0, account))


async def trader(
    client: Client, account: str, tally: Tally, *, orders: int, stop: asyncio.Event, seed: int
) -> None:
    rng = random.Random(seed)
    for sequence in range(orders):
        if stop.is_set():
            return
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        price = 10_000 + rng.randint(-5, 5)
        cl_ord_id = f"{account}-{sequence}"
        order = NewOrderSingle(
            0, account, cl_ord_id, SYMBOL, int(side), int(OrdType.LIMIT), rng.randint(1, 10), price
        )
        try:
            result = await client.submit(order)
        except ClientError:
            tally.failed_attempts += 1
            continue
        tally.acknowledged.append((account, cl_ord_id))
        if result.outcome is None:
            tally.replayed += 1
            continue
        if result.outcome.accepted:
            tally.accepted += 1
        else:
            tally.rejected += 1
        for report in result.outcome.reports:
            if report.exec_type == ExecType.TRADE and report.account == account:
                tally.fills += 1
                tally.filled_qty += report.last_qty


async def run_demo(root: Path, *, orders_per_trader: int = 300) -> int:
    cluster = LocalCluster(root, replicas=3, digest_interval=50)
    print(f"== Starting 3 replicas on 127.77.{cluster.octet}.1-3 (data under {root})")
    cluster.start_all()
    problems: list[str] = []
    try:
        leader = await cluster.wait_ready(within=60)
        print(f"   leader: node {leader} ({cluster.config_name(leader)})")
        async with cluster.client(operator=True) as admin:
            await setup_market(admin)
        print(f"== Instrument {SYMBOL} and accounts {', '.join(ACCOUNTS)} set up (operator certificate)")

        tally = Tally()
        stop = asyncio.Event()
        clients = [cluster.client(deadline=20) for _ in ACCOUNTS]
        traders = [
            asyncio.create_task(trader(client, account, tally, orders=orders_per_trader, stop=stop, seed=i))
            for i, (client, account) in enumerate(zip(clients, ACCOUNTS, strict=True))
        ]
        total = orders_per_trader * len(ACCOUNTS)
        async with asyncio.timeout(60):
            while len(tally.acknowledged) < total // 4:  # kill the leader mid-stream
                await asyncio.sleep(0.005)
        acknowledged_before = len(tally.acknowledged)
        print(f"== {len(ACCOUNTS)} clients trading: {acknowledged_before} orders acknowledged so far")
        print(f"== SIGKILL the leader, node {leader}, while clients keep writing")
        killed_at = time.monotonic()
        cluster.kill(leader, sig=signal.SIGKILL)
        new_leader = await _first_new_commit(cluster, exclude=leader)
        failover = time.monotonic() - killed_at
        print(f"   new leader: node {new_leader}, first commit {failover * 1000:.0f} ms after the kill")
        await asyncio.gather(*traders)
        for client in clients:
            await client.close()
        print(tally.summary())

        async with cluster.client(deadline=30) as checker:
            missing = await missing_acknowledged(checker, tally)
        if missing:
            problems.append(f"{len(missing)} acknowledged orders are missing: {missing[:5]}")
        verdict = "no" if missing else "yes"
        print(
            f"== Every acknowledged order is on the new leader: {verdict} ({len(tally.acknowledged)} checked)"
        )

        cluster.start(leader)
        digests = await _converged_digests(cluster)
        if len(set(digests.values())) != 1:
            problems.append(f"replicas disagree: {digests}")
        index = next(iter(digests))
        print(f"== Node {leader} restarted and caught up; digests at index {index[0]}:")
        for (_, node_id), digest in sorted(digests.items(), key=lambda item: item[0][1]):
            print(f"   node {node_id}: {digest}")

        cluster.stop_all()
        for node_id, node in cluster.nodes.items():
            key = load_public_key(node.audit_public_key)
            for trail in sorted((node.data_dir / "audit").glob("*.audit")):
                result = verify_trail(trail, key)
                status = "intact" if result.ok else f"BROKEN: {result.problem}"
                if result.ok and result.checkpoints == 0:
                    status = "intact but no signed checkpoint"
                    problems.append(f"audit trail {trail} has no signed checkpoint")
                counts = (
                    f"{result.records} records, {result.checkpoints} signed checkpoints, "
                    f"{result.unsigned_tail} after the last one"
                )
                print(f"== Audit trail node {node_id} {trail.name}: {counts}, {status}")
                if not result.ok:
                    problems.append(f"audit trail {trail} does not verify: {result.problem}")
    finally:
        cluster.stop_all()
    if problems:
        print("== FAILED:\n   " + "\n   ".join(problems))
        return 1
    print("== OK: no acknowledged order was lost, replicas agree, audit trails verify")
    return 0


async def _first_new_commit(cluster: LocalCluster, *, exclude: int) -> int:
    async with cluster.client(deadline=30) as client:
        await client.put("failover-probe", time.time())
        pong = await client.ping()
    leader = pong.get("leader")
    if not isinstance(leader, int) or leader == exclude:
        raise RuntimeError(f"no new leader after the kill (ping said {pong})")
    return leader


async def missing_acknowledged(client: Client, tally: Tally) -> list[tuple[str, str]]:
    """Acknowledged orders the cluster does not know (a linearizable lookup each)."""
    return [
        (account, cl_ord_id)
        for account, cl_ord_id in tally.acknowledged
        if await client.lookup_order(account, cl_ord_id) is None
    ]


async def _converged_digests(cluster: LocalCluster) -> dict[tuple[int, int], str]:
    """Wait for all replicas to apply the same index, then return (index, node) -> the digest
    each recorded at an index all of them recorded."""
    index, digests = await cluster.agreed_digests(within=60)
    return {(index, node_id): digest for node_id, digest in digests.items()}
