"""Linearizability checker speed: 10,000 register operations over 10 keys (target < 10 s).

The history comes from a real sequential register: each operation gets a random interval around
its linearization point, with 10 concurrent clients per key, so it is linearizable by
construction and the checker has to find the order. The reference is the same history with
every interval shrunk to its point (no concurrency), the search's floor.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import TYPE_CHECKING, Any

from hive_cli.bench._result import BenchResult

if TYPE_CHECKING:
    from hive_sim.linearizability import Operation


def describe() -> str:
    return "linearizability checker: 10,000 ops over 10 keys (target < 10 s)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--operations", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)


def _history(operations: int, keys: int, seed: int, *, overlap: bool) -> list[Operation]:
    from hive_sim.linearizability import Operation, OpKind

    rng = random.Random(seed)
    states: dict[str, int | None] = {f"k{k}": None for k in range(keys)}
    history: list[Operation] = []
    for step in range(operations):
        key = f"k{rng.randrange(keys)}"
        point = step * 10
        spread = 10 * keys * 5 if overlap else 0  # about 10 operations in flight per key
        start, end = point - rng.randint(0, spread), point + rng.randint(0, spread)
        roll = rng.random()
        client = step % 50
        state = states[key]
        if roll < 0.4:
            history.append(Operation(client, key, OpKind.PUT, start, end, value=step))
            states[key] = step
        elif roll < 0.8:
            history.append(Operation(client, key, OpKind.GET, start, end, output=state))
        else:
            expected = rng.choice([state, step - 1])
            success = expected == state
            history.append(
                Operation(client, key, OpKind.CAS, start, end, value=step, expected=expected, output=success)
            )
            if success:
                states[key] = step
    return history


def run(args: argparse.Namespace) -> BenchResult:
    from hive_sim.linearizability import check_history

    rows = [["history", "operations", "keys", "verdict", "seconds"]]
    summary: dict[str, Any] = {}
    for label, overlap in (("concurrent", True), ("sequential reference", False)):
        history = _history(args.operations, args.keys, args.seed, overlap=overlap)
        started = time.perf_counter()
        result = check_history(history, time_limit_s=60.0)
        elapsed = time.perf_counter() - started
        rows.append([label, str(args.operations), str(args.keys), result.outcome.value, f"{elapsed:.3f}"])
        prefix = "check" if overlap else "reference"
        summary[f"{prefix}_seconds"] = elapsed
        summary[f"{prefix}_verdict"] = result.outcome.value
    summary["operations"] = args.operations
    summary["keys"] = args.keys
    summary["target_seconds"] = 10.0
    summary["ratio_to_reference"] = summary["check_seconds"] / max(summary["reference_seconds"], 1e-9)
    return BenchResult(name="linearizability", summary=summary, table=rows)
