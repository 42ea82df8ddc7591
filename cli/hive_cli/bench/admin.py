"""``hive bench admin``: does operating a big node stall it? Event-loop lag under admin load.

Three real replicas (mTLS, fsync) are loaded with ``--orders`` resting limit orders (100k by
default). Then, for ``--seconds``, every node's ``GET /status`` is polled ``--poll-hz`` times a
second through the typed admin client, ``GET /digest`` is asked, a trickle of orders keeps the log
moving past digest points (every ``--digest-interval`` entries) and snapshot points (every
``--snapshot-every``), and one backup is taken. Each node's ``hive_event_loop_lag_seconds``
histogram (a 10 ms timer) is read before and after; the table shows its p99 (as the bucket bound
it falls in) and maximum per node, the forks, captures and snapshots, and whether the term
moved (a leader change). The reference row is what one ``GET /status`` cost on the loop before
the contract: serialising and hashing the same state in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from hive_cli.bench._result import BenchResult

TARGET_LAG_P99_MS = 10.0
SYMBOL = "BENCH"
MID = 10_000
ACCOUNTS = [f"acct{i}" for i in range(8)]


def describe() -> str:
    return "admin API under 100k resting orders: event-loop lag with status polling, digests, snapshots"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--orders", type=int, default=100_000, help="resting orders loaded first")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the measured phase")
    parser.add_argument("--poll-hz", type=float, default=20.0, help="GET /status per node per second")
    parser.add_argument("--trickle-per-s", type=float, default=200.0, help="orders/s during the phase")
    parser.add_argument("--digest-interval", type=int, default=1_000)
    parser.add_argument("--snapshot-every", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=128, help="concurrent submitters while loading")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's directory")


def _order(sequence: int, rng: random.Random, prefix: str) -> Any:
    from hive_runtime.trading.commands import NewOrderSingle

    side = 1 + sequence % 2
    offset = 1 + rng.randrange(500)
    price = MID - offset if side == 1 else MID + offset  # never crosses: every order rests
    account = ACCOUNTS[sequence % len(ACCOUNTS)]
    return NewOrderSingle(0, account, f"{prefix}{sequence}", SYMBOL, side, 2, 5, price, 0, False)


def _reference_status_cost(orders: int) -> float:
    """Seconds one old-style ``/status`` spent on the loop: serialise and hash the whole state."""
    from hive_runtime.node.state import NodeStateMachine, trading_entry
    from hive_runtime.trading.codec import encode_command
    from hive_runtime.trading.commands import AddAccount, AddInstrument

    state = NodeStateMachine()
    commands: list[Any] = [AddInstrument(1, SYMBOL, 1, 1, MID)]
    commands += [AddAccount(1, account) for account in ACCOUNTS]
    rng = random.Random(1)
    commands += [_order(n, rng, "r") for n in range(orders)]
    for index, command in enumerate(commands, start=1):
        state.apply(index, trading_entry(encode_command(command)))
    started = time.perf_counter()
    hashlib.sha256(state.snapshot()).hexdigest()
    return time.perf_counter() - started


def _samples(text: str) -> dict[str, float]:
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def _buckets(samples: dict[str, float], metric: str) -> list[tuple[float, float]]:
    prefix = f'{metric}_bucket{{le="'
    found = [(key[len(prefix) : -2], value) for key, value in samples.items() if key.startswith(prefix)]
    return sorted((float("inf") if le == "+Inf" else float(le), value) for le, value in found)


def _quantile_bound(before: dict[str, float], after: dict[str, float], metric: str, q: float) -> float:
    """The upper bound of the bucket holding the ``q`` quantile of observations between scrapes."""
    old = dict(_buckets(before, metric))
    delta = [(le, count - old.get(le, 0.0)) for le, count in _buckets(after, metric)]
    total = delta[-1][1] if delta else 0.0
    if total <= 0:
        return 0.0
    return next(le for le, count in delta if count >= q * total)


def _share_over(before: dict[str, float], after: dict[str, float], metric: str, bound: float) -> float:
    """The share of observations between scrapes above ``bound`` (a bucket bound): unlike the
    quantile's bucket, it moves continuously, so two runs compare."""
    old = dict(_buckets(before, metric))
    delta = dict((le, count - old.get(le, 0.0)) for le, count in _buckets(after, metric))
    total = delta.get(float("inf"), 0.0)
    return (total - delta.get(bound, 0.0)) / total if total > 0 else 0.0


async def _metrics(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with session.get(url) as response:
        return _samples(await response.text())


async def _load(cluster: Any, orders: int, concurrency: int) -> float:
    from hive_runtime.trading.commands import AddAccount, AddInstrument

    async with cluster.client(operator=True, deadline=30) as operator:
        await operator.submit(AddInstrument(0, SYMBOL, 1, 1, MID))
        for account in ACCOUNTS:
            await operator.submit(AddAccount(0, account))
    queue = iter(range(orders))
    rng = random.Random(7)
    started = time.perf_counter()

    async def submitter(client: Any) -> None:
        for sequence in queue:
            result = await client.submit(_order(sequence, rng, "o"))
            if result.outcome is None and result.original and result.original.get("reject_reason") == 0:
                continue  # a retry of an order that was accepted (the client's first attempt timed out)
            if result.outcome is None or not result.outcome.accepted:
                raise RuntimeError(f"order {sequence} not accepted: {result}")

    clients = [cluster.client(deadline=60) for _ in range(8)]
    try:
        async with asyncio.TaskGroup() as group:
            for n in range(concurrency):
                group.create_task(submitter(clients[n % len(clients)]))
    finally:
        for client in clients:
            await client.close()
    return orders / (time.perf_counter() - started)


async def _phase(cluster: Any, args: argparse.Namespace, root: Path, *, admin_load: bool) -> dict[str, Any]:
    """One measured phase: a trickle of resting orders (which passes digest and snapshot points),
    plus, with ``admin_load``, status polling of every node, digest reads and one backup."""
    nodes = list(cluster.nodes)
    metrics_urls = {n: f"http://{cluster.host(n)}:{cluster.ports['metrics']}/metrics" for n in nodes}
    admins = {n: cluster.admin_client(n) for n in nodes}
    status_latency: list[float] = []
    digests_answered = 0
    backup: dict[str, Any] = {}
    stop = asyncio.Event()

    async def poll(node: int) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await admins[node].status()
            status_latency.append(time.perf_counter() - started)
            await asyncio.sleep(1 / args.poll_hz)

    async def ask_digests() -> None:
        nonlocal digests_answered
        while not stop.is_set():
            for node in nodes:
                latest = (await admins[node].status()).latest_digest
                if latest is not None:
                    await admins[node].digest(at_least=latest.index)
                    digests_answered += 1
            await asyncio.sleep(0.5)

    async def trickle() -> None:
        rng = random.Random(11 + admin_load)
        async with cluster.client(deadline=30) as client:
            sequence = 0
            while not stop.is_set():
                await client.submit(_order(sequence, rng, f"t{int(admin_load)}-"))
                sequence += 1
                await asyncio.sleep(1 / args.trickle_per_s)

    async def take_backup(leader: int) -> None:
        await asyncio.sleep(args.seconds / 2)
        started = time.perf_counter()
        receipt = await admins[leader].backup(str(root / "backups"))
        backup.update(seconds=time.perf_counter() - started, size=receipt.size, index=receipt.index)

    try:
        async with aiohttp.ClientSession() as session:
            before = {n: await _metrics(session, url) for n, url in metrics_urls.items()}
            first = {n: await admins[n].status() for n in nodes}
            leader = next(n for n, status in first.items() if status.role.value == "leader")
            async with asyncio.TaskGroup() as group:
                group.create_task(trickle())
                if admin_load:
                    for node in nodes:
                        group.create_task(poll(node))
                    group.create_task(ask_digests())
                    group.create_task(take_backup(leader))
                await asyncio.sleep(args.seconds)
                stop.set()
            after = {n: await _metrics(session, url) for n, url in metrics_urls.items()}
            last = {n: await admins[n].status() for n in nodes}
    finally:
        for admin in admins.values():
            await admin.close()
    return {
        "before": before,
        "after": after,
        "first": first,
        "last": last,
        "status_latency": sorted(status_latency),
        "digests_answered": digests_answered,
        "backup": backup,
    }


def _delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def _rows(name: str, phase: dict[str, Any]) -> tuple[list[list[str]], dict[str, Any]]:
    rows = []
    worst_p99 = worst_max = worst_fork = worst_save = worst_fsync = worst_over = 0.0
    leader_changes = captures_total = 0
    for node, after in phase["after"].items():
        before = phase["before"][node]
        p99 = _quantile_bound(before, after, "hive_event_loop_lag_seconds", 0.99)
        over = _share_over(before, after, "hive_event_loop_lag_seconds", TARGET_LAG_P99_MS / 1000)
        lag_max = after.get("hive_event_loop_lag_max_seconds", 0.0)
        fork_p99 = _quantile_bound(before, after, "hive_state_capture_fork_seconds", 0.99)
        save_max = _quantile_bound(before, after, "hive_snapshot_save_seconds", 1.0)
        fsync_p99 = _quantile_bound(before, after, "hive_fsync_latency_seconds", 0.99)
        captures = int(_delta(before, after, "hive_state_capture_seconds_count"))
        first, last = phase["first"][node], phase["last"][node]
        leader_changes = max(leader_changes, last.term - first.term)
        worst_p99, worst_max = max(worst_p99, p99), max(worst_max, lag_max)
        worst_fork, worst_save = max(worst_fork, fork_p99), max(worst_save, save_max)
        worst_fsync = max(worst_fsync, fsync_p99)
        worst_over = max(worst_over, over)
        captures_total += captures
        rows.append([
            name, str(node), last.role.value, f"{p99 * 1000:g} ms", f"{over * 100:.2f}%",
            f"{lag_max * 1000:.1f} ms",
            f"{fork_p99 * 1000:g} ms", str(captures), f"{first.snapshot_index}->{last.snapshot_index}",
            f"{save_max * 1000:g} ms", f"{fsync_p99 * 1000:g} ms", f"{first.term}->{last.term}",
        ])  # fmt: skip
    latency = phase["status_latency"]
    summary = {
        "loop_lag_p99_ms_bound": worst_p99 * 1000,
        "loop_lag_max_ms": round(worst_max * 1000, 2),
        "loop_lag_share_over_target_pct": round(worst_over * 100, 3),
        "leader_changes": leader_changes,
        "captures": captures_total,
        "fork_p99_ms_bound": worst_fork * 1000,
        "snapshot_save_max_ms_bound": worst_save * 1000,
        "fsync_p99_ms_bound": worst_fsync * 1000,
        "status_polls": len(latency),
        "status_p99_ms": round(latency[int(0.99 * (len(latency) - 1))] * 1000, 2) if latency else None,
        "digests_answered": phase["digests_answered"],
        "backup": phase["backup"] or None,
    }
    return rows, summary


def run(args: argparse.Namespace) -> BenchResult:
    from hive_cli.local.cluster import LocalCluster

    reference = _reference_status_cost(args.orders)
    root = Path(tempfile.mkdtemp(prefix="hive-bench-admin-"))
    cluster = LocalCluster(
        root, replicas=3, snapshot_every=args.snapshot_every, digest_interval=args.digest_interval
    )
    try:
        cluster.start_all()

        async def main() -> tuple[float, dict[str, Any], dict[str, Any]]:
            await cluster.wait_ready(within=60)
            rate = await _load(cluster, args.orders, args.concurrency)
            await cluster.wait_ready(within=60)
            quiet = await _phase(cluster, args, root, admin_load=False)
            loaded = await _phase(cluster, args, root, admin_load=True)
            return rate, quiet, loaded

        load_rate, quiet, loaded = asyncio.run(main())
    finally:
        cluster.stop_all(grace=5)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    header = ["phase", "node", "role", "lag p99 <=", "lag >10ms", "lag max", "fork p99 <=", "captures",
              "snapshot", "save max <=", "fsync p99 <=", "term"]  # fmt: skip
    quiet_rows, quiet_summary = _rows("trickle", quiet)
    admin_rows, admin_summary = _rows("+admin", loaded)
    old_status = f"{reference * 1000:.0f} ms"
    table = [
        header,
        *quiet_rows,
        *admin_rows,
        ["ref", "-", "old /status", old_status, *[""] * 8],
    ]
    summary = {
        "orders_resting": args.orders,
        "load_orders_per_s": round(load_rate),
        "seconds_per_phase": args.seconds,
        "trickle": quiet_summary,
        "admin": admin_summary,
        "loop_lag_p99_ms_bound": admin_summary["loop_lag_p99_ms_bound"],
        "leader_changes": quiet_summary["leader_changes"] + admin_summary["leader_changes"],
        "old_status_ms": round(reference * 1000, 1),
        "target_loop_lag_p99_ms": TARGET_LAG_P99_MS,
        "met": admin_summary["loop_lag_p99_ms_bound"] <= TARGET_LAG_P99_MS
        and quiet_summary["leader_changes"] + admin_summary["leader_changes"] == 0,
    }
    notes = [
        f"loaded {args.orders} resting orders at {load_rate:.0f}/s; each phase {args.seconds:g}s with a "
        f"trickle of orders; '+admin' adds {admin_summary['status_polls']} status polls, "
        f"{admin_summary['digests_answered']} digest reads and one backup ({loaded['backup'].get('size')} "
        f"bytes in {loaded['backup'].get('seconds', 0):.2f}s)",
        "lag p99 is the upper bound of the histogram bucket holding it (0.5,1,2,3,5,7.5,10,15,20,30,50 ms..);"
        " 'lag >10ms' the share of the 10 ms timer's wake-ups later than 10 ms (p99 < 10 ms means under 1%);"
        " 'old /status' is what one status call spent on the loop before (serialise + hash in-process)",
    ]
    return BenchResult("admin", summary, table, notes)
