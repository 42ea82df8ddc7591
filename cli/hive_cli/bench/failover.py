"""``hive bench failover``: SIGKILL the leader of 3 real replicas under load, K times; the time
from the kill to the first write committed by the new leader.

Background writers keep the cluster busy throughout; a probe client writes the moment the leader
is killed and retries (short per-attempt timeout) until a write is acknowledged. The killed node
is restarted and allowed to catch up before the next round. Election timing is the node's
default (10 ms ticks, elections after 15-30 ticks, pre-vote and check-quorum on).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from hive_cli.bench._result import BenchResult


def describe() -> str:
    return "leader SIGKILL under load: time to the first new commit"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kills", type=int, default=10, help="leader kills (rounds)")
    parser.add_argument("--writers", type=int, default=8, help="background writers during the test")


async def _background(cluster: Any, stop: asyncio.Event, index: int) -> None:
    from hive_runtime.client import ClientError

    async with cluster.client(deadline=30) as client:
        while not stop.is_set():
            with contextlib.suppress(ClientError, TimeoutError):
                await client.put(f"bg{index}", time.time())


async def _first_commit_after(cluster: Any, killed_at: float) -> float:
    from hive_runtime.client import ClientError

    async with cluster.client(deadline=30) as probe:
        probe.attempt_timeout = 0.2
        attempt = 0
        while True:
            attempt += 1
            try:
                await probe.put("failover", attempt)
                return time.monotonic() - killed_at
            except ClientError:
                await asyncio.sleep(0.005)


async def _rounds(root: Path, kills: int, writers: int) -> list[float]:
    from hive_cli.local.cluster import LocalCluster

    cluster = LocalCluster(root, replicas=3)
    cluster.start_all()
    stop = asyncio.Event()
    load: list[asyncio.Task[None]] = []
    durations = []
    try:
        await cluster.wait_ready(within=60)
        load = [asyncio.create_task(_background(cluster, stop, i)) for i in range(writers)]
        for _ in range(kills):
            leader = await cluster.wait_ready(within=60)
            await asyncio.sleep(0.5)
            killed_at = time.monotonic()
            cluster.kill(leader, sig=signal.SIGKILL)
            durations.append(await _first_commit_after(cluster, killed_at))
            cluster.start(leader)
            await cluster.wait_ready(within=60)
    finally:
        stop.set()
        await asyncio.gather(*load, return_exceptions=True)
        cluster.stop_all()
    return durations


def run(args: argparse.Namespace) -> BenchResult:
    with tempfile.TemporaryDirectory(prefix="hive-failover-") as directory:
        durations = asyncio.run(_rounds(Path(directory), args.kills, args.writers))
    ordered = sorted(durations)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 3)

    summary = {"kills": len(durations), "p50_s": at(0.5), "p99_s": at(0.99), "max_s": round(ordered[-1], 3)}
    table = [
        ["kills", "p50 s", "p99 s", "max s"],
        [str(len(durations)), str(at(0.5)), str(at(0.99)), str(summary["max_s"])],
    ]
    notes = ["each round: " + ", ".join(f"{d * 1000:.0f} ms" for d in durations)]
    return BenchResult(name="failover", summary=summary, table=table, notes=notes)
