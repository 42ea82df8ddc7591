"""The consensus and failover benchmarks run end to end and report the keys issue 5 names.

Tiny sizes: this checks that the benchmarks work, not how fast anything is (that is the
benchmarks' own job, see docs/performance.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _bench(*args: str, out: Path) -> dict[str, float]:
    command = [sys.executable, "-m", "hive_cli.main", "bench", *args, "--json", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert json.loads(out.read_text()) == last
    return last  # type: ignore[no-any-return]


def test_consensus_benchmark_reports_latency_throughput_and_floor(tmp_path: Path) -> None:
    summary = _bench(
        "consensus", "--samples", "50", "--seconds", "0.5", "--skip-pysyncobj", out=tmp_path / "c.json"
    )
    for key in (
        "p50_ms",
        "p99_ms",
        "ops_per_s_16",
        "ops_per_s_256",
        "orders_per_s",
        "floor_rtt_us",
        "floor_fsync_us",
    ):
        assert summary[key] > 0, key
    assert summary["p50_ms"] <= summary["p99_ms"]
    assert 0 < summary["pipeline_floor_p50_ms"] <= summary["pipeline_floor_p99_ms"]
    assert summary["p50_over_pipeline_floor"] == round(
        summary["p50_ms"] / summary["pipeline_floor_p50_ms"], 2
    )
    assert summary["floor_commit_us"] == round(2 * summary["floor_rtt_us"] + summary["floor_fsync_us"], 1)
    cpu = summary["cpu_us_per_commit_256"]
    replicas = [value for name, value in cpu.items() if name.startswith("replica")]
    assert len(replicas) == 3 and all(value > 0 for value in replicas)
    assert cpu["load generator"] > 0
    assert cpu["total"] == round(sum(value for name, value in cpu.items() if name != "total"), 1)


def test_failover_benchmark_kills_and_measures(tmp_path: Path) -> None:
    summary = _bench("failover", "--kills", "1", "--writers", "2", out=tmp_path / "f.json")
    assert summary["kills"] == 1
    assert 0 < summary["p50_s"] < 30


def test_admin_benchmark_reports_loop_lag_under_admin_load(tmp_path: Path) -> None:
    summary = _bench(
        "admin", "--orders", "2000", "--seconds", "2", "--snapshot-every", "300", "--digest-interval", "100",
        "--poll-hz", "10", out=tmp_path / "a.json",
    )  # fmt: skip
    admin = summary["admin"]
    assert admin["status_polls"] > 10 and admin["digests_answered"] > 0
    assert admin["backup"]["size"] > 0 and summary["trickle"]["captures"] > 0
    assert summary["loop_lag_p99_ms_bound"] > 0 and summary["old_status_ms"] > 0
    assert summary["met"] == (summary["loop_lag_p99_ms_bound"] <= 10 and summary["leader_changes"] == 0)
