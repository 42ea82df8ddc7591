"""Raft core throughput: committed entries per second through an in-memory 3-node cluster.

No I/O at all: messages are delivered in-process and storage is MemoryStorage, so this measures
the protocol code itself. The reference in the same run is the floor without consensus:
appending the same entries to one MemoryStorage and "applying" them.
"""

from __future__ import annotations

import argparse
import time

from hive_cli.bench._result import BenchResult


def describe() -> str:
    return "Raft core: committed entries/s through an in-memory 3-node cluster (no I/O)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entries", type=int, default=100_000, help="entries to commit per batch size")
    parser.add_argument("--payload", type=int, default=64, help="bytes per entry")


def _cluster_rate(entries: int, batch: int, payload: bytes) -> float:
    from hive_sim.raft_sim.memory_cluster import MemoryCluster

    cluster = MemoryCluster(3, max_entries_per_message=max(64, batch))
    leader = cluster.elect(1)
    cluster.stabilize()
    applied_before = len(cluster.applied[1])
    started = time.perf_counter()
    done = 0
    while done < entries:
        count = min(batch, entries - done)
        leader.propose_batch([payload] * count)
        cluster.stabilize()
        done += count
    elapsed = time.perf_counter() - started
    committed = len(cluster.applied[1]) - applied_before
    assert committed >= entries, (committed, entries)
    return entries / elapsed


def _floor_rate(entries: int, payload: bytes) -> float:
    from hive_runtime.raft import Entry, MemoryStorage

    storage = MemoryStorage()
    applied: list[Entry] = []
    started = time.perf_counter()
    for index in range(1, entries + 1):
        entry = Entry(1, index, data=payload)
        storage.append([entry])
        applied.append(entry)
    return entries / (time.perf_counter() - started)


def run(args: argparse.Namespace) -> BenchResult:
    payload = b"x" * args.payload
    floor = _floor_rate(args.entries, payload)
    rows = [["batch", "committed entries/s", "us/entry", "vs floor"]]
    summary: dict[str, float] = {"floor_entries_per_s": floor}
    for batch in (1, 16, 256):
        rate = _cluster_rate(args.entries if batch > 1 else args.entries // 5, batch, payload)
        summary[f"entries_per_s_batch_{batch}"] = rate
        rows.append([str(batch), f"{rate:,.0f}", f"{1e6 / rate:.2f}", f"{rate / floor:.3f}"])
    rows.append(["floor (append+apply, no consensus)", f"{floor:,.0f}", f"{1e6 / floor:.2f}", "1.000"])
    summary["committed_entries_per_s"] = summary["entries_per_s_batch_256"]
    return BenchResult(
        name="raft",
        summary=summary,
        table=rows,
        notes=["3 voters, one process, messages delivered in FIFO order after each Ready is persisted"],
    )
