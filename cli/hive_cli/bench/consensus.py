"""``hive bench consensus``: durable, mutually authenticated commits through 3 real replicas.

Hive: three ``hive runtime serve`` processes on loopback (mutual TLS 1.3, WAL fdatasync before
acknowledging), clients in this process. Register writes of 100 bytes measure consensus; orders
(client, consensus, trading engine, acknowledgement) are the second figure. In the same run:
the physical floor (raw mutual-TLS round trip and raw fdatasync, from ``hive bench floor``), the
software floor (the commit's message pattern in plain asyncio with no consensus, from
:mod:`hive_cli.bench._pipeline_floor`) and PySyncObj on the same write workload, with its
defaults and with batching off, as ratios.

Everything shares this machine's cores: the load generator, three replicas, and for PySyncObj
three more processes (run after Hive's, not at the same time). The load generator runs on uvloop
when it is installed (the client library supports it; the replicas' TLS server needs asyncio's
own loop). The 256-client run also reports the CPU time every process spent per commit (from
``/proc``), which is what bounds throughput when all of them share two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from hive_cli.bench._result import BenchResult

VALUE = "v" * 100
T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the load generator on uvloop when installed (cheaper per request), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of process ``pid`` (Linux ``/proc``), or None where unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def describe() -> str:
    return "durable mTLS commits on 3 real replicas vs the physical floor and PySyncObj"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", type=int, default=2000, help="sequential writes for the latency figures")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each throughput run")
    parser.add_argument("--skip-pysyncobj", action="store_true", help="leave the reference out")


def _quantiles_ms(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] / 1e6, 3)

    return {"p50": at(0.5), "p99": at(0.99), "p999": at(0.999)}


async def _sequential(client: Any, samples: int) -> list[int]:
    timings = []
    for index in range(samples + 200):
        started = time.perf_counter_ns()
        await client.put("latency", VALUE)
        if index >= 200:
            timings.append(time.perf_counter_ns() - started)
    return timings


async def _drive(cluster: Any, *, clients: int, seconds: float, operation: Any) -> float:
    """Run ``clients`` loops of ``await operation(client, index, sequence)`` for ``seconds`` over at
    most 32 connections; completed operations per second."""
    connections = [cluster.client(deadline=30) for _ in range(min(clients, 32))]
    done = 0
    end = time.monotonic() + seconds

    async def worker(index: int) -> None:
        nonlocal done
        client = connections[index % len(connections)]
        sequence = 0
        while time.monotonic() < end:
            await operation(client, index, sequence)
            sequence += 1
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    for client in connections:
        await client.close()
    return done / elapsed


async def _concurrent(cluster: Any, *, clients: int, seconds: float) -> float:
    async def write(client: Any, index: int, sequence: int) -> None:
        await client.put(f"k{index % 64}", VALUE)

    return await _drive(cluster, clients=clients, seconds=seconds, operation=write)


async def _orders(cluster: Any, *, clients: int, seconds: float) -> float:
    from hive_runtime.trading.commands import AddAccount, AddInstrument, NewOrderSingle

    async with cluster.client(operator=True) as operator:
        await operator.submit(AddInstrument(0, "BENCH", tick_size=1, lot_size=1, reference_price=10_000))
        for index in range(clients):
            await operator.submit(AddAccount(0, f"acct{index}"))

    async def trade(client: Any, index: int, sequence: int) -> None:
        side = 1 + (sequence + index) % 2
        price = 10_000 + (1 if side == 2 else -1) * (sequence % 5)
        await client.submit(
            NewOrderSingle(0, f"acct{index}", f"o{index}-{sequence}", "BENCH", side, 2, 1, price)
        )

    return await _drive(cluster, clients=clients, seconds=seconds, operation=trade)


async def _hive(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    from hive_cli.local.cluster import LocalCluster

    cluster = LocalCluster(root, replicas=3, snapshot_every=200_000)
    cluster.start_all()
    try:
        await cluster.wait_ready(within=60)
        async with cluster.client(deadline=30) as client:
            latency = _quantiles_ms(await _sequential(client, args.samples))
        ops_16 = await _concurrent(cluster, clients=16, seconds=args.seconds)
        pids = {f"replica {i}": node.process.pid for i, node in cluster.nodes.items() if node.process}
        pids["load generator"] = os.getpid()
        cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        started = time.monotonic()
        ops_256 = await _concurrent(cluster, clients=256, seconds=args.seconds)
        commits = ops_256 * (time.monotonic() - started)
        cpu_per_commit = _cpu_per_commit(pids, cpu_before, commits=commits)
        orders = await _orders(cluster, clients=64, seconds=args.seconds)
    finally:
        cluster.stop_all()
    return {
        "latency": latency,
        "ops_16": ops_16,
        "ops_256": ops_256,
        "orders": orders,
        "cpu_us_per_commit": cpu_per_commit,
    }


def _cpu_per_commit(
    pids: dict[str, int], before: dict[str, float | None], *, commits: float
) -> dict[str, float] | None:
    """CPU microseconds each process spent per commit since ``before``; None without ``/proc``."""
    spent: dict[str, float] = {}
    for name, pid in pids.items():
        start, end = before[name], _cpu_seconds(pid)
        if start is None or end is None or commits <= 0:
            return None
        spent[name] = round((end - start) / commits * 1e6, 1)
    spent["total"] = round(sum(spent.values()), 1)
    return spent


def _floor(root: Path, samples: int) -> dict[str, Any]:
    """The physical floor (raw round trip, raw fsync) and the software floor (the commit-shaped
    exchange in plain asyncio, :mod:`hive_cli.bench._pipeline_floor`), on the same certificates."""
    from hive_cli.bench._pipeline_floor import measure_pipeline_floor
    from hive_cli.bench.floor import make_bench_tls, measure_floor

    server_paths, client_paths, _ = make_bench_tls(root / "tls")
    figures = measure_floor(root, samples=samples, tls=(server_paths, client_paths))
    pipeline = measure_pipeline_floor(root / "pipeline", tls_dir=root / "tls", samples=samples)
    return {
        "floor_fsync_p50_us": figures["fsync_p50_us"],
        "floor_rtt_p50_us": figures["rtt_p50_us"],
        "pipeline": _quantiles_ms(pipeline),
    }


def _pysyncobj(args: argparse.Namespace, *, batching: bool) -> dict[str, Any]:
    from hive_cli.bench._pysyncobj import concurrent_throughput, pysyncobj_cluster, sequential_latencies

    value = VALUE.encode()
    with pysyncobj_cluster(batching=batching) as node:
        latency = _quantiles_ms(sequential_latencies(node, min(args.samples, 500), value))
        ops_16 = concurrent_throughput(node, in_flight=16, seconds=args.seconds, value=value)
        ops_256 = concurrent_throughput(node, in_flight=256, seconds=args.seconds, value=value)
    return {"latency": latency, "ops_16": ops_16, "ops_256": ops_256}


def run(args: argparse.Namespace) -> BenchResult:
    with tempfile.TemporaryDirectory(prefix="hive-bench-") as directory:
        root = Path(directory)
        hive = _run(_hive(args, root / "hive"))
        floor = _floor(root, min(args.samples, 2000))
    references: dict[str, dict[str, Any]] = {}
    if not args.skip_pysyncobj:
        references["pysyncobj (defaults)"] = _pysyncobj(args, batching=True)
        references["pysyncobj (batching off)"] = _pysyncobj(args, batching=False)

    table = [["system", "p50 ms", "p99 ms", "p999 ms", "ops/s 16", "ops/s 256", "durable"]]
    table.append(
        [
            "hive (3 replicas, mTLS, fsync)",
            str(hive["latency"]["p50"]),
            str(hive["latency"]["p99"]),
            str(hive["latency"]["p999"]),
            f"{hive['ops_16']:.0f}",
            f"{hive['ops_256']:.0f}",
            "yes",
        ]
    )
    table.append(
        [
            "commit-shaped asyncio pipeline, no consensus",
            str(floor["pipeline"]["p50"]),
            str(floor["pipeline"]["p99"]),
            str(floor["pipeline"]["p999"]),
            "-",
            "-",
            "yes",
        ]
    )
    for name, figures in references.items():
        table.append(
            [
                name,
                str(figures["latency"]["p50"]),
                str(figures["latency"]["p99"]),
                str(figures["latency"]["p999"]),
                f"{figures['ops_16']:.0f}",
                f"{figures['ops_256']:.0f}",
                "no (in-memory log)",
            ]
        )
    summary: dict[str, Any] = {
        "p50_ms": hive["latency"]["p50"],
        "p99_ms": hive["latency"]["p99"],
        "p999_ms": hive["latency"]["p999"],
        "ops_per_s_16": round(hive["ops_16"], 1),
        "ops_per_s_256": round(hive["ops_256"], 1),
        "orders_per_s": round(hive["orders"], 1),
        "floor_rtt_us": floor["floor_rtt_p50_us"],
        "floor_fsync_us": floor["floor_fsync_p50_us"],
        # A durable commit from a client is at least 4 one-way hops (client -> leader -> follower
        # -> leader -> client, two round trips) plus one follower fdatasync, with no software at all.
        "floor_commit_us": round(2 * floor["floor_rtt_p50_us"] + floor["floor_fsync_p50_us"], 1),
    }
    summary["p50_over_floor_commit"] = round(hive["latency"]["p50"] * 1000 / summary["floor_commit_us"], 2)
    summary |= {
        "pipeline_floor_p50_ms": floor["pipeline"]["p50"],
        "pipeline_floor_p99_ms": floor["pipeline"]["p99"],
        "p50_over_pipeline_floor": round(hive["latency"]["p50"] / floor["pipeline"]["p50"], 2),
        "p99_over_pipeline_floor": round(hive["latency"]["p99"] / floor["pipeline"]["p99"], 2),
    }
    notes = [
        f"end-to-end orders/s (64 clients, client -> consensus -> engine -> ack): {hive['orders']:.0f}",
        f"floor: raw mTLS RTT p50 {floor['floor_rtt_p50_us']} us, "
        f"raw fdatasync p50 {floor['floor_fsync_p50_us']} us; a durable commit (2 round trips + "
        f"1 fsync) cannot beat {summary['floor_commit_us']} us here (hive p50 is "
        f"{summary['p50_over_floor_commit']}x that)",
        f"software floor: the same exchange in plain asyncio with no consensus (3 processes, mTLS, "
        f"fsync) p50 {floor['pipeline']['p50']} ms, p99 {floor['pipeline']['p99']} ms; hive is "
        f"{summary['p50_over_pipeline_floor']}x / {summary['p99_over_pipeline_floor']}x that",
    ]
    cpu = hive["cpu_us_per_commit"]
    if cpu is not None:
        summary["cpu_us_per_commit_256"] = cpu
        notes.append(
            "CPU per commit with 256 clients (us, all processes share 2 cores): "
            + ", ".join(f"{name} {value}" for name, value in cpu.items())
            + f"; 2 cores allow at most {2e6 / cpu['total']:,.0f} commits/s at this cost"
        )
    reference = references.get("pysyncobj (defaults)")
    if reference is not None:
        best_p99 = min(figures["latency"]["p99"] for figures in references.values())
        best_ops = max(figures["ops_256"] for figures in references.values())
        summary |= {
            "pysyncobj_p99_ms": reference["latency"]["p99"],
            "pysyncobj_ops_per_s": round(reference["ops_256"], 1),
            "pysyncobj_nobatch_p99_ms": references["pysyncobj (batching off)"]["latency"]["p99"],
            "pysyncobj_nobatch_ops_per_s": round(references["pysyncobj (batching off)"]["ops_256"], 1),
            "p99_ratio_vs_best_pysyncobj": round(hive["latency"]["p99"] / best_p99, 2),
            "throughput_ratio_vs_best_pysyncobj": round(hive["ops_256"] / best_ops, 2),
        }
        notes.append(
            f"hive p99 / best PySyncObj p99 = {summary['p99_ratio_vs_best_pysyncobj']}; "
            f"hive ops/s (256) / best PySyncObj = {summary['throughput_ratio_vs_best_pysyncobj']}"
        )
    return BenchResult(name="consensus", summary=summary, table=table, notes=notes)
