"""``hive bench all``: every other benchmark in turn, each writing its own JSON (``make bench``).

With its defaults each benchmark runs at the size its figures in docs/performance.md were taken
at (the whole run takes 15-25 minutes on the 2-core machine); ``--quick`` runs each at a tiny
size instead (about 2 minutes), to check that they all still work, and writes under
``bench/results/quick/`` so real figures are never overwritten by toy ones. A benchmark that
fails is reported in the table and the run goes on; the exit status is then non-zero.
"""

from __future__ import annotations

import argparse
import time
import traceback
from pathlib import Path
from typing import Any

from hive_cli.bench._result import BenchResult

# Arguments of each benchmark for --quick: sizes that exercise every code path in seconds.
QUICK: dict[str, list[str]] = {
    "admin": ["--orders", "3000", "--seconds", "2", "--digest-interval", "500", "--snapshot-every", "1000"],
    "consensus": ["--samples", "100", "--seconds", "0.5", "--skip-pysyncobj"],
    "durability": ["--seeds", "1-5"],
    "failover": ["--kills", "1", "--writers", "2"],
    "floor": ["--samples", "200", "--commits", "2000"],
    "linearizability": ["--operations", "1000"],
    "operator": ["--paused", "5", "--quiet-ticks", "1", "--interval", "2"],
    "raft": ["--entries", "5000"],
    "sim_soak": ["--seeds", "3", "--steps", "100"],
    "trading": ["--orders", "5000", "--adds", "10000", "--reference-orders", "1000"],
}


def describe() -> str:
    return (
        "every benchmark in turn (make bench); --quick: each at a tiny size, JSON under bench/results/quick"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that every benchmark works")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="run just these benchmarks")


def run(args: argparse.Namespace) -> BenchResult:
    from hive_cli.commands.bench import bench_modules, bench_parser, run_and_write

    modules = {name: module for name, module in sorted(bench_modules().items()) if name != "all"}
    chosen = [name for name in modules if args.only is None or name in args.only]
    out_dir = Path("bench/results") / ("quick" if args.quick else "")
    rows = [["benchmark", "result", "seconds"]]
    outcomes: dict[str, Any] = {}
    for name in chosen:
        if args.quick and name not in QUICK:  # a new benchmark must say how to run it small
            outcomes[name] = {"result": "failed: no --quick arguments in hive_cli.bench.all", "seconds": 0}
            rows.append([name, "failed: no --quick arguments", "0"])
            continue
        argv = [*(QUICK[name] if args.quick else []), "--out", str(out_dir / f"{name}.json")]
        bench_args = bench_parser(name, modules[name]).parse_args(argv)
        print(f"== hive bench {name} {' '.join(argv)}", flush=True)
        started = time.perf_counter()
        try:
            run_and_write(modules[name], bench_args)
            outcome = "ok"
        except Exception:
            traceback.print_exc()
            outcome = "failed"
        seconds = round(time.perf_counter() - started, 1)
        outcomes[name] = {"result": outcome, "seconds": seconds}
        rows.append([name, outcome, f"{seconds:g}"])
    failed = sorted(name for name, outcome in outcomes.items() if outcome["result"] != "ok")
    if failed:
        args.exit_status = 1
    return BenchResult(
        name="all",
        summary={"quick": args.quick, "benchmarks": outcomes, "failed": failed},
        table=rows,
        notes=[f"failed: {', '.join(failed)}"] if failed else [],
    )
