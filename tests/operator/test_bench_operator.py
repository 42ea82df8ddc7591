"""``hive bench operator`` runs end to end on the real bed with small counts and reports its keys.

No timing assertion (targets live in the benchmark). The run goes through the CLI, as a user
runs it. The audit count must see the operator's writes while it builds the cluster (so a 0 for
the no-op window is a real 0, not a count of the wrong user), and paused clusters make no pods.
The histogram reading is checked on its own against an exposition ``prometheus_client`` renders.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from hive_cli.bench.operator import BINARIES, histogram_buckets, quantile_bound
from hive_testbed import k8sbuild

REPO = Path(__file__).resolve().parents[2]

NUMBERS = [
    "bed_up_s",
    "ready_s",
    "build_audit_writes",
    "noop_timer_reconciles",
    "noop_audit_writes",
    "noop_self_counted_writes",
    "writes_per_noop_reconcile",
    "reconciles",
    "reconcile_p50_le_s",
    "reconcile_p99_le_s",
    "quiet_reconcile_p99_le_s",
    "burst_reconcile_p99_le_s",
    "steady_reconcile_p99_le_s",
    "paused_all_reconciled_s",
    "rss_idle_mb",
    "rss_paused_mb",
    "rss_peak_mb",
    "rss_ratio",
]
SMALL = ("--replicas=1", "--paused=3", "--quiet-ticks=2", "--interval=1")
VERDICTS = ["ready_pass", "writes_per_noop_pass", "reconcile_p99_pass", "rss_pass"]
TARGETS = {
    "ready_target_s": 30.0,
    "writes_per_noop_target": 0.0,
    "reconcile_p99_target_s": 1.0,
    "rss_target_mb": 200.0,
}


def test_quantile_bound_reads_the_bucket_the_quantile_falls_in() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("d_seconds", "d", buckets=(0.1, 1, 10), registry=registry)
    for value in [0.05] * 90 + [0.5] * 9 + [5.0]:
        histogram.observe(value)
    buckets = histogram_buckets(generate_latest(registry).decode(), "d_seconds")
    assert buckets[float("inf")] == 100
    assert quantile_bound(buckets, 0.5) == 0.1
    assert quantile_bound(buckets, 0.99) == 1.0
    assert quantile_bound(buckets, 1.0) == 10.0
    assert quantile_bound({float("inf"): 0.0}, 0.99) is None


@pytest.mark.slow
def test_bench_operator_small_run(tmp_path: Path) -> None:
    missing = [name for name in BINARIES if not (k8sbuild.bin_dir() / name).exists()]
    assert not missing, f"not built in {k8sbuild.bin_dir()}: {missing}; run `make k8s`"
    out = tmp_path / "operator.json"
    done = subprocess.run(
        [sys.executable, "-m", "hive_cli.main", "bench", "operator", "--json", f"--out={out}", *SMALL],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document = json.loads(out.read_text())
    assert json.loads(done.stdout.strip().splitlines()[-1]) == document
    for key in NUMBERS:
        assert isinstance(document[key], int | float) and not isinstance(document[key], bool), key
    for key in VERDICTS:
        assert isinstance(document[key], bool), key
    for key, value in TARGETS.items():
        assert document[key] == value, key
    assert document["paused_clusters"] == 3
    assert document["paused_pods"] == 0, "paused clusters make no pods"
    assert document["build_audit_writes"] > 0, "the audit count sees the operator's own writes"
    assert document["noop_timer_reconciles"] >= 1
    assert document["rss_idle_mb"] > 0 and document["rss_paused_mb"] > 0
    assert "operator RSS, 3 paused HiveClusters" in done.stdout
