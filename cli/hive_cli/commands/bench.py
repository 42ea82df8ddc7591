"""``hive bench NAME``: run one benchmark from :mod:`hive_cli.bench`, print a table, write JSON."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import platform
import time
from pathlib import Path
from typing import Any

from hive_cli import bench as bench_package
from hive_cli.bench._result import BenchResult


def _bench_modules() -> dict[str, Any]:
    modules: dict[str, Any] = {}
    for info in pkgutil.iter_modules(bench_package.__path__):
        if not info.name.startswith("_"):
            modules[info.name] = importlib.import_module(f"{bench_package.__name__}.{info.name}")
    return modules


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark (prints a table, writes JSON)")
    names = parser.add_subparsers(dest="bench_name", metavar="NAME")
    names.required = True
    for name, module in sorted(_bench_modules().items()):
        sub = names.add_parser(name, help=module.describe())
        sub.add_argument("--json", action="store_true", help="print the JSON summary as the last line")
        sub.add_argument(
            "--out",
            type=Path,
            default=Path("bench/results") / f"{name}.json",
            help="where to write the JSON result (default: bench/results/NAME.json)",
        )
        module.add_arguments(sub)
        sub.set_defaults(handler=_make_handler(module))


def run_and_write(module: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Run one benchmark module, print its table and notes, write its JSON to ``args.out``."""
    started = time.time()
    result: BenchResult = module.run(args)
    document = {
        "benchmark": result.name,
        "started_at": started,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        **result.summary,
    }
    table = result.render_table()
    if table:
        print(table)
    for note in result.notes:
        print(f"note: {note}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")
    return document


def bench_parser(name: str, module: Any) -> argparse.ArgumentParser:
    """A stand-alone parser for one benchmark's own arguments (``hive bench all`` uses it)."""
    parser = argparse.ArgumentParser(prog=f"hive bench {name}")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench/results") / f"{name}.json")
    module.add_arguments(parser)
    return parser


def bench_modules() -> dict[str, Any]:
    return _bench_modules()


def _make_handler(module: Any) -> Any:
    def handler(args: argparse.Namespace) -> int:
        document = run_and_write(module, args)
        if args.json:
            print(json.dumps(document, sort_keys=True))
        return int(getattr(args, "exit_status", 0))

    return handler
