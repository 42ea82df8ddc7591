"""Simulation soak: many seeds for 3- and 5-node clusters; speed (x real time) and violations.

The reference is real time itself: ``speedup`` is simulated seconds per wall-clock second (the
target is >= 500x). Any violation or "unknown" checker verdict is reported with its seed.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from hive_cli.bench._result import BenchResult


def describe() -> str:
    return "deterministic simulation soak: many seeds, speedup vs real time, violations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=int, default=300, help="seeds per cluster size (default 300)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=600, help="simulated 100 ms ticks per seed")


def run(args: argparse.Namespace) -> BenchResult:
    from hive_sim.raft_sim import SimConfig, run_seed

    rows = [
        ["nodes", "seeds", "violations", "unknown", "ops", "elections", "simulated s", "wall s", "speedup"]
    ]
    summary: dict[str, Any] = {"violations": 0, "unknown": 0, "failed_seeds": []}
    total_sim = total_wall = 0.0
    for nodes in (3, 5):
        config = SimConfig(nodes=nodes, steps=args.steps)
        violations = unknown = operations = elections = 0
        simulated = 0.0
        started = time.perf_counter()
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            result = run_seed(seed, config)
            simulated += result.simulated_seconds
            operations += result.operations
            elections += result.elections
            unknown += int(result.unknown)
            if not result.ok:
                violations += 1
                summary["failed_seeds"].append({"nodes": nodes, "seed": seed, "violation": result.violation})
        wall = time.perf_counter() - started
        speedup = simulated / wall
        rows.append(
            [str(nodes), str(args.seeds), str(violations), str(unknown), str(operations), str(elections),
             f"{simulated:.0f}", f"{wall:.1f}", f"{speedup:.0f}x"]
        )  # fmt: skip
        summary[f"speedup_{nodes}_nodes"] = speedup
        summary["violations"] += violations
        summary["unknown"] += unknown
        total_sim += simulated
        total_wall += wall
    summary["seeds"] = 2 * args.seeds
    summary["simulated_seconds"] = total_sim
    summary["wall_seconds"] = total_wall
    summary["speedup"] = total_sim / total_wall
    summary["target_speedup"] = 500
    return BenchResult(
        name="sim_soak",
        summary=summary,
        table=rows,
        notes=["replay any failed seed with: hive sim --seeds N-N --nodes {3|5}"],
    )
