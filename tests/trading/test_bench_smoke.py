"""The trading benchmark runs end to end on a tiny workload and reports the agreed keys (no timing
assertions: targets live in the benchmark, not in tests)."""

from __future__ import annotations

import argparse

from hive_cli.bench import trading


def test_bench_reports_required_keys() -> None:
    parser = argparse.ArgumentParser()
    trading.add_arguments(parser)
    args = parser.parse_args(["--orders", "3000", "--adds", "2000", "--reference-orders", "500"])
    result = trading.run(args)
    for key in ("orders_per_s", "p50_us", "p99_us", "p999_us", "reference_orders_per_s", "book_adds_per_s"):
        assert result.summary[key] > 0, key
    assert result.summary["p50_us"] <= result.summary["p99_us"] <= result.summary["p999_us"]
    assert result.table[0] == ["measure", "value", "target"]


def test_workload_mix_has_adds_cancels_and_crossing_orders() -> None:
    commands = trading.workload(5000, seed=3)
    kinds = [type(c).__name__ for c in commands[9:]]
    crossing = [c for c in commands[9:] if getattr(c, "price", 0) in (trading.MID + 3, trading.MID - 3)]
    assert 0.5 < kinds.count("NewOrderSingle") / len(kinds) < 0.8
    assert 0.2 < kinds.count("OrderCancelRequest") / len(kinds) < 0.4
    assert 0.1 < len(crossing) / len(kinds) < 0.2
