"""``hive sim``: run seeded deterministic simulations of a Raft cluster and check every history.

Each seed is a complete, reproducible run (network faults, crashes, membership changes, client
workload); a violating seed prints the exact command that replays it and its last events.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any


def _seed_range(text: str) -> range:
    try:
        if "-" in text:
            first, last = text.split("-", 1)
            lo, hi = int(first), int(last)
        else:
            lo = hi = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected A-B or N, got {text!r}") from None
    if lo < 0 or hi < lo:
        raise argparse.ArgumentTypeError(f"empty or negative seed range {text!r}")
    return range(lo, hi + 1)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("sim", help="deterministic Raft simulation over a range of seeds")
    parser.add_argument("--seeds", type=_seed_range, required=True, help="seed range A-B (inclusive)")
    parser.add_argument("--nodes", type=int, choices=(3, 5), default=3, help="initial voters (default 3)")
    parser.add_argument(
        "--steps", type=int, default=600, help="simulated ticks of 100 ms per seed (default 600)"
    )
    parser.add_argument("--json", action="store_true", help="print the aggregate as one JSON object last")
    parser.add_argument(
        "--plant-bug",
        action="append",
        default=[],
        metavar="BUG",
        help="TEST-ONLY: plant a known Raft bug (commit-old-term-by-counting, skip-persist-vote, "
        "grant-two-votes, apply-before-commit) to see the harness catch it",
    )
    parser.add_argument(
        "--fault-point-crash",
        type=float,
        default=None,
        metavar="P",
        help="pin the crash probability at the vote/election/commit fault points (default: per seed)",
    )
    parser.add_argument(
        "--max-entries-per-message",
        type=int,
        default=None,
        metavar="N",
        help="pin the entries per append message (default: per seed)",
    )
    parser.set_defaults(handler=_run)


def _replay_command(seed: int, args: argparse.Namespace) -> str:
    extra = "".join(f" --plant-bug {bug}" for bug in args.plant_bug)
    if args.fault_point_crash is not None:
        extra += f" --fault-point-crash {args.fault_point_crash}"
    if args.max_entries_per_message is not None:
        extra += f" --max-entries-per-message {args.max_entries_per_message}"
    return f"hive sim --seeds {seed}-{seed} --nodes {args.nodes} --steps {args.steps}{extra}"


def _run(args: argparse.Namespace) -> int:
    from hive_sim.planted import PlantedBug
    from hive_sim.raft_sim import SimConfig, run_seed

    try:
        bugs = frozenset(PlantedBug(name) for name in args.plant_bug)
    except ValueError as error:
        print(f"error: {error}")
        return 2
    config = SimConfig(
        nodes=args.nodes,
        steps=args.steps,
        planted_bugs=bugs,
        fault_point_crash=args.fault_point_crash,
        max_entries_per_message=args.max_entries_per_message,
    )
    totals: dict[str, Any] = {
        "seeds": 0,
        "violations": 0,
        "unknown": 0,
        "operations": 0,
        "elections": 0,
        "simulated_seconds": 0.0,
        "wall_seconds": 0.0,
    }
    failed: list[int] = []
    started = time.perf_counter()
    for seed in args.seeds:
        result = run_seed(seed, config)
        totals["seeds"] += 1
        totals["operations"] += result.operations
        totals["elections"] += result.elections
        totals["simulated_seconds"] += result.simulated_seconds
        totals["unknown"] += int(result.unknown)
        status = "ok" if result.ok else "VIOLATION"
        if result.unknown:
            status = "unknown"
        faults = ",".join(f"{name}={count}" for name, count in sorted(result.faults.items()))
        print(
            f"seed {seed}: {status} nodes={result.nodes} ops={result.operations} "
            f"completed={result.completed} elections={result.elections} "
            f"sim={result.simulated_seconds:.1f}s wall={result.wall_seconds:.3f}s "
            f"trace={result.trace_hash} faults[{faults}]",
            flush=True,
        )
        if not result.ok:
            totals["violations"] += 1
            failed.append(seed)
            print(f"  violation: {result.violation}")
            print(f"  replay with: {_replay_command(seed, args)}")
            print("  last events:")
            for line in result.trace_tail:
                print(f"    {line}")
    totals["wall_seconds"] = time.perf_counter() - started
    totals["speedup"] = (
        totals["simulated_seconds"] / totals["wall_seconds"] if totals["wall_seconds"] else 0.0
    )
    print(
        f"total: seeds={totals['seeds']} violations={totals['violations']} unknown={totals['unknown']} "
        f"operations={totals['operations']} elections={totals['elections']} "
        f"simulated={totals['simulated_seconds']:.1f}s wall={totals['wall_seconds']:.1f}s "
        f"speedup={totals['speedup']:.0f}x"
    )
    if args.json:
        document = {**totals, "nodes": args.nodes, "steps": args.steps, "failed_seeds": failed}
        print(json.dumps(document, sort_keys=True))
    return 1 if totals["violations"] else 0
