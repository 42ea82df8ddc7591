"""``hive bench trading``: matching throughput, leader-path latency, and the reference matcher.

Three measurements on one book, all on the same seeded workload (55% passive limit adds near the
touch, 30% cancels, 15% crossing orders, half of them IOC):

- ``book_adds_per_s``: simple non-crossing limit adds straight into :class:`OrderBook`;
- ``engine_adds_per_s``: the same kind of adds as NewOrderSingle through the engine (risk checks,
  client order id table, report);
- ``orders_per_s``: the mix through the engine's typed API (risk, matching, positions, reports);
- the full leader path per command (decode bytes, risk, match, encode outcome, audit record and
  hash chain/Merkle update) through ``TradingStateMachine.apply``, timed one by one after a
  warm-up and ``gc.freeze()``: ``p50_us``, ``p99_us``, ``p999_us``;
- ``cpu_p50_us`` ...: the leader path again, timed with the thread's CPU clock, which leaves out
  time the process spent preempted (a shared machine; production pins the hot thread to a core);
- ``reference_orders_per_s``: the same mix on :mod:`hive_sim.reference_matcher`.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hive_cli.bench._result import BenchResult

TARGET_BOOK_ADDS = 500_000
TARGET_P50_US = 10.0
TARGET_P999_US = 50.0
MID = 10_000
ACCOUNTS = [f"acct{i}" for i in range(8)]


@contextmanager
def _gc_tuned(mode: str) -> Iterator[None]:
    """Collect, then (per mode) freeze the heap and disable the cyclic collector while timing."""
    gc.collect()
    if mode != "default":
        gc.freeze()
    if mode == "freeze-disable":
        gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def describe() -> str:
    return "one order book: adds/s, mixed orders/s, leader-path latency, vs the reference matcher"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--orders", type=int, default=200_000, help="commands in the mixed workload")
    parser.add_argument("--adds", type=int, default=500_000, help="limit adds for the raw book figure")
    parser.add_argument("--reference-orders", type=int, default=20_000, help="commands run on the reference")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--gc",
        choices=["freeze", "freeze-disable", "default"],
        default="freeze-disable",
        help="collector while timing: freeze the heap after setup/warm-up, and also disable the cyclic "
        "collector (the engine creates no reference cycles; reference counting frees everything)",
    )


def workload(count: int, seed: int) -> list[Any]:
    """The mixed command stream (setup commands first), as typed commands."""
    from hive_runtime.trading.commands import (
        AddAccount,
        AddInstrument,
        NewOrderSingle,
        OrderCancelRequest,
    )

    rng = random.Random(seed)
    ts = 1_700_000_000_000_000
    commands: list[Any] = [
        AddInstrument(ts, "BENCH", 1, 1, MID, collar_bps=1000, band_bps=1000, band_window_us=10**6)
    ]
    commands += [AddAccount(ts, name, 1, 0, 0, 0) for name in ACCOUNTS]
    live: list[tuple[str, str]] = []
    for n in range(count):
        ts += 1
        account = ACCOUNTS[rng.randrange(len(ACCOUNTS))]
        roll = rng.random()
        side = 1 + rng.randrange(2)
        if roll < 0.55 or not live:
            offset = 1 + rng.randrange(20)
            price = MID - offset if side == 1 else MID + offset
            cl = f"p{n}"
            commands.append(
                NewOrderSingle(ts, account, cl, "BENCH", side, 2, 1 + rng.randrange(9), price, 0, False)
            )
            live.append((account, cl))
        elif roll < 0.85:
            index = rng.randrange(len(live))
            live[index], live[-1] = live[-1], live[index]
            owner, cl = live.pop()
            commands.append(OrderCancelRequest(ts, owner, f"x{n}", cl, "BENCH"))
        else:
            price = MID + 3 if side == 1 else MID - 3
            tif = 3 if rng.random() < 0.5 else 0
            commands.append(
                NewOrderSingle(
                    ts, account, f"t{n}", "BENCH", side, 2, 1 + rng.randrange(9), price, tif, False
                )
            )
    return commands


def _book_adds(count: int, seed: int, gc_mode: str) -> float:
    from hive_runtime.trading.book import Order, OrderBook

    rng = random.Random(seed)
    prices = [
        (1, MID - 1 - rng.randrange(50)) if rng.random() < 0.5 else (2, MID + 1 + rng.randrange(50))
        for _ in range(count)
    ]
    book = OrderBook("BENCH")
    add = book.add
    with _gc_tuned(gc_mode):
        started = time.perf_counter()
        for order_id, (side, price) in enumerate(prices):
            add(Order(order_id, "acct", "c", "BENCH", side, price, 5, 5, 0))
        return count / (time.perf_counter() - started)


def _engine_adds(count: int, seed: int, gc_mode: str) -> float:
    """Non-crossing limit NewOrderSingles through the engine's typed API (with all risk checks)."""
    from hive_runtime.trading.commands import NewOrderSingle
    from hive_runtime.trading.engine import Engine

    setup = workload(0, seed)
    rng = random.Random(seed)
    adds = []
    for n in range(count):
        side = 1 + rng.randrange(2)
        price = MID - 1 - rng.randrange(50) if side == 1 else MID + 1 + rng.randrange(50)
        adds.append(
            NewOrderSingle(n, ACCOUNTS[n % len(ACCOUNTS)], f"a{n}", "BENCH", side, 2, 5, price, 0, False)
        )
    engine = Engine()
    for command in setup:
        engine.execute(command)
    execute = engine.execute
    with _gc_tuned(gc_mode):
        started = time.perf_counter()
        for command in adds:
            execute(command)
        return count / (time.perf_counter() - started)


def _engine_mix(commands: list[Any], gc_mode: str) -> float:
    from hive_runtime.trading.engine import Engine

    engine = Engine()
    execute = engine.execute
    setup = 1 + len(ACCOUNTS)
    for command in commands[:setup]:
        execute(command)
    body = commands[setup:]
    with _gc_tuned(gc_mode):
        started = time.perf_counter()
        for command in body:
            execute(command)
        return len(body) / (time.perf_counter() - started)


def _leader_path(commands: list[Any], gc_mode: str, *, cpu_clock: bool = False) -> tuple[float, list[int]]:
    """Apply the workload one entry at a time; per-entry wall-clock (or thread CPU) nanoseconds."""
    from hive_runtime.trading.codec import encode_command
    from hive_runtime.trading.machine import TradingStateMachine

    machine = TradingStateMachine()
    entries = [encode_command(c) for c in commands]
    apply = machine.apply
    warmup = len(entries) // 10
    for index in range(warmup):
        apply(index + 1, entries[index])
    machine.take_audit()
    clock = time.thread_time_ns if cpu_clock else time.perf_counter_ns
    latencies: list[int] = []
    record = latencies.append
    take = machine.take_audit
    with _gc_tuned(gc_mode):
        started = time.perf_counter()
        for index in range(warmup, len(entries)):
            data = entries[index]
            begin = clock()
            apply(index + 1, data)
            record(clock() - begin)
            if index & 1023 == 0:
                take()
        rate = (len(entries) - warmup) / (time.perf_counter() - started)
    return rate, latencies


def _reference_mix(commands: list[Any]) -> float:
    from hive_sim.reference_matcher import ReferenceBook

    from hive_runtime.trading.commands import NewOrderSingle, OrderCancelRequest

    book = ReferenceBook()
    ids: dict[tuple[str, str], int] = {}
    started = time.perf_counter()
    count = 0
    for command in commands:
        if isinstance(command, NewOrderSingle):
            order_id = len(ids) + 1
            ids[(command.account, command.cl_ord_id)] = order_id
            book.submit(
                order_id=order_id,
                account=command.account,
                side=command.side,
                limit=command.price,
                qty=command.qty,
                tif=command.tif,
            )
            count += 1
        elif isinstance(command, OrderCancelRequest):
            book.cancel(ids.get((command.account, command.orig_cl_ord_id), 0))
            count += 1
    return count / (time.perf_counter() - started)


def _percentile(sorted_values: list[int], fraction: float) -> float:
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index] / 1000.0


def run(args: argparse.Namespace) -> BenchResult:
    commands = workload(args.orders, args.seed)
    book_adds = _book_adds(args.adds, args.seed, args.gc)
    engine_adds = _engine_adds(args.adds // 2, args.seed, args.gc)
    orders_per_s = _engine_mix(commands, args.gc)
    leader_rate, latencies = _leader_path(commands, args.gc)
    latencies.sort()
    p50, p99, p999 = (_percentile(latencies, f) for f in (0.5, 0.99, 0.999))
    _, cpu_times = _leader_path(commands, args.gc, cpu_clock=True)
    cpu_times.sort()
    cpu_p50, cpu_p99, cpu_p999 = (_percentile(cpu_times, f) for f in (0.5, 0.99, 0.999))
    reference = _reference_mix(commands[: args.reference_orders])
    summary = {
        "book_adds_per_s": round(book_adds),
        "engine_adds_per_s": round(engine_adds),
        "orders_per_s": round(orders_per_s),
        "leader_path_orders_per_s": round(leader_rate),
        "p50_us": round(p50, 2),
        "p99_us": round(p99, 2),
        "p999_us": round(p999, 2),
        "max_us": round(latencies[-1] / 1000.0, 1),
        "cpu_p50_us": round(cpu_p50, 2),
        "cpu_p99_us": round(cpu_p99, 2),
        "cpu_p999_us": round(cpu_p999, 2),
        "reference_orders_per_s": round(reference),
        "speedup_vs_reference": round(orders_per_s / reference, 1),
        "book_adds_vs_target": round(book_adds / TARGET_BOOK_ADDS, 2),
        "p50_vs_target": round(p50 / TARGET_P50_US, 2),
        "p999_vs_target": round(p999 / TARGET_P999_US, 2),
        "commands": args.orders,
        "gc": args.gc,
        "targets_met": book_adds >= TARGET_BOOK_ADDS and p50 <= TARGET_P50_US and p999 <= TARGET_P999_US,
    }
    table = [
        ["measure", "value", "target"],
        ["book limit adds/s", f"{book_adds:,.0f}", f">= {TARGET_BOOK_ADDS:,}"],
        ["engine limit adds/s (with risk)", f"{engine_adds:,.0f}", ""],
        ["engine mixed orders/s", f"{orders_per_s:,.0f}", ""],
        ["leader path orders/s", f"{leader_rate:,.0f}", ""],
        ["leader path p50 us", f"{p50:.2f}", f"<= {TARGET_P50_US}"],
        ["leader path p99 us", f"{p99:.2f}", ""],
        ["leader path p99.9 us", f"{p999:.2f}", f"<= {TARGET_P999_US}"],
        ["leader path CPU p50/p99/p99.9 us", f"{cpu_p50:.1f} / {cpu_p99:.1f} / {cpu_p999:.1f}", ""],
        ["reference mixed orders/s", f"{reference:,.0f}", ""],
        ["engine / reference", f"{orders_per_s / reference:.1f}x", ""],
    ]
    notes = [
        "CPU figures: same run timed with the thread CPU clock (excludes preemption by other processes)",
        "latency: each TradingStateMachine.apply(index, bytes) timed alone (decode, risk, match, audit)",
        f"gc mode {args.gc}; reference on the first {min(args.reference_orders, len(commands))} commands",
    ]
    return BenchResult(name="trading", summary=summary, table=table, notes=notes)
