"""``hive bench all`` (``make bench``): every registered benchmark has a quick size, and the
runner runs the chosen ones, writes each one's JSON and reports failures in its exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hive_cli.bench.all import QUICK
from hive_cli.commands.bench import bench_modules, bench_parser


def test_every_registered_benchmark_has_quick_arguments_that_parse() -> None:
    modules = {name: module for name, module in bench_modules().items() if name != "all"}
    assert set(modules) <= set(QUICK), f"no --quick arguments for {sorted(set(modules) - set(QUICK))}"
    for name, module in modules.items():
        bench_parser(name, module).parse_args(QUICK[name])


def test_bench_all_quick_runs_the_chosen_benchmarks_and_writes_their_json(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "hive_cli.main", "bench", "all", "--quick", "--only", "raft",
               "linearizability", "--out", str(tmp_path / "all.json")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads((tmp_path / "all.json").read_text())
    assert summary["failed"] == [] and set(summary["benchmarks"]) == {"raft", "linearizability"}
    for name in ("raft", "linearizability"):
        assert json.loads((tmp_path / "bench/results/quick" / f"{name}.json").read_text())["benchmark"]
