"""Durability soak: thousands of seeds of the production driver and WAL on power-loss disks.

Each seed is one run of :func:`hive_sim.durability.run_seed` (3- or 5-node cluster, crashes, power
cuts of one node or all, cuts inside a node's own file operations, partitions; linearizability,
state machine safety, recovery and convergence checked). The table gives, per cluster size,
seeds, failures, operations, power cuts, torn writes and speed; every failing seed is listed with
its first problem and replays alone with ``hive bench durability --seeds N-N``.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

from hive_cli.bench._result import BenchResult


def describe() -> str:
    return "power-loss soak of the production driver + WAL: seeds, violations, power cuts, torn writes"


def _seed_range(text: str) -> range:
    """``A-B`` (inclusive), or ``N`` for ``1-N``."""
    first, dash, last = text.partition("-")
    try:
        low, high = (int(first), int(last)) if dash else (1, int(first))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or A-B, not {text!r}") from None
    if low < 1 or high < low:
        raise argparse.ArgumentTypeError(f"empty or invalid seed range {text!r}")
    return range(low, high + 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seeds", type=_seed_range, default=range(1, 1001), help="A-B, or N for 1-N (default 1-1000)"
    )
    parser.add_argument("--nodes", type=int, choices=(3, 5), default=None, help="pin the cluster size")


def run(args: argparse.Namespace) -> BenchResult:
    from hive_sim.durability import DurabilityConfig, run_seed

    config = DurabilityConfig(nodes=args.nodes)
    per_size: dict[int, Counter[str]] = {}
    failed: list[dict[str, Any]] = []
    actions: Counter[str] = Counter()
    started = time.perf_counter()
    for seed in args.seeds:
        result = run_seed(seed, config)
        counts = per_size.setdefault(result.profile.nodes, Counter())
        counts["seeds"] += 1
        counts["failed"] += int(not result.ok)
        counts["unknown"] += int(result.checker == "unknown")
        counts["operations"] += result.operations
        counts["completed"] += result.completed
        counts["power_cuts"] += result.power_cuts
        counts["torn_writes"] += result.torn_writes
        actions.update(result.actions)
        if not result.ok:
            failed.append({"seed": seed, "nodes": result.profile.nodes, "problem": result.problems[0]})
            print(f"seed {seed}: FAILED ({result.profile.nodes} nodes): {result.problems[0][:300]}")
    wall = time.perf_counter() - started
    seeds = len(args.seeds)
    simulated = seeds * (config.fault_seconds + config.quiet_seconds)
    rows = [["nodes", "seeds", "failed", "unknown", "ops", "acknowledged", "power cuts", "torn writes"]]
    for nodes, counts in sorted(per_size.items()):
        rows.append(
            [str(nodes), str(counts["seeds"]), str(counts["failed"]), str(counts["unknown"]),
             str(counts["operations"]), str(counts["completed"]), str(counts["power_cuts"]),
             str(counts["torn_writes"])]
        )  # fmt: skip
    summary: dict[str, Any] = {
        "seeds": seeds,
        "first_seed": args.seeds.start,
        "last_seed": args.seeds.stop - 1,
        "failed": len(failed),
        "failed_seeds": failed,
        "unknown": sum(counts["unknown"] for counts in per_size.values()),
        "operations": sum(counts["operations"] for counts in per_size.values()),
        "power_cuts": sum(counts["power_cuts"] for counts in per_size.values()),
        "torn_writes": sum(counts["torn_writes"] for counts in per_size.values()),
        "nemesis_actions": dict(actions),
        "wall_seconds": wall,
        "seeds_per_second": seeds / wall,
        "speedup": simulated / wall,
    }
    notes = [
        f"{seeds} seeds in {wall:.1f} s ({seeds / wall:.1f} seeds/s, {simulated / wall:.0f}x real time)",
        "replay a seed with: hive bench durability --seeds N-N",
    ]
    return BenchResult(name="durability", summary=summary, table=rows, notes=notes)
