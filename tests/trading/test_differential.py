"""The fast engine against the slow reference matcher, plus book invariants, on random streams.

Hypothesis generates streams of new orders (limit, market, IOC, FOK, post-only), cancels and
cancel/replaces from three accounts with different self-trade settings. After every command the
engine and :mod:`hive_sim.reference_matcher` must agree on acceptance, trades and the book, and
the invariants hold: both sides of every trade carry the same quantity, positions sum to zero, the
book is never crossed at rest, executions walk prices from best to worst, and each account's
recorded exposure equals what it has resting.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hive_sim.reference_matcher import ReferenceBook
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hive_runtime.trading.commands import SetAccountLimits
from hive_runtime.trading.types import ExecType, Side, StpMode, TimeInForce

STP = {"a": StpMode.CANCEL_RESTING, "b": StpMode.CANCEL_INCOMING, "c": StpMode.CANCEL_RESTING}
KINDS = ["limit", "limit", "limit", "market", "ioc", "fok", "post"]

new_op = st.tuples(
    st.just("new"),
    st.sampled_from(sorted(STP)),
    st.sampled_from([int(Side.BUY), int(Side.SELL)]),
    st.sampled_from(KINDS),
    st.integers(995, 1005),
    st.integers(1, 8),
)
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 40))
replace_op = st.tuples(st.just("replace"), st.integers(0, 40), st.integers(1, 10), st.integers(995, 1005))
streams = st.lists(st.one_of(new_op, new_op, new_op, cancel_op, replace_op), min_size=20, max_size=80)


def engine_trades(outcome: Any) -> list[tuple[int, int, int, int]]:
    fills = [r for r in outcome.reports if r.exec_type == ExecType.TRADE]
    assert len(fills) % 2 == 0
    pairs = []
    for taker, maker in zip(fills[::2], fills[1::2], strict=True):
        assert taker.last_qty == maker.last_qty and taker.last_px == maker.last_px
        assert taker.side != maker.side
        pairs.append((taker.order_id, maker.order_id, taker.last_qty, taker.last_px))
    return pairs


def check_invariants(market: Any) -> None:
    engine = market.machine.engine
    book = market.book
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is None or ask is None or bid < ask, "crossed book at rest"
    assert sum(a.positions["X"].qty for a in engine.accounts.values() if "X" in a.positions) == 0
    exposure: dict[tuple[str, int], int] = defaultdict(int)
    notional: dict[str, int] = defaultdict(int)
    for side in (1, 2):
        for price, orders in book.levels(side):
            level = (book.bids if side == 1 else book.asks)[price]
            assert level.qty == sum(o.leaves for o in orders) > 0
            for order in orders:
                assert order.qty == order.cum + order.leaves and order.leaves > 0
                assert engine.orders[order.order_id] is order
                exposure[(order.account, side)] += order.leaves
                notional[order.account] += order.price * order.leaves
    assert len(engine.orders) == sum(len(o) for side in (1, 2) for _, o in book.levels(side))
    for name, account in engine.accounts.items():
        buy, sell = account.exposure.get("X", [0, 0])
        assert (buy, sell) == (exposure[(name, 1)], exposure[(name, 2)])
        assert account.open_notional == notional[name]


def check_price_walk(trades: list[tuple[int, int, int, int]], side: int) -> None:
    prices = [t[3] for t in trades]
    assert prices == sorted(prices, reverse=side == Side.SELL)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=streams)
def test_engine_matches_reference_and_keeps_invariants(
    make_market: Any, stream: list[tuple[Any, ...]]
) -> None:
    market = make_market()
    for account, mode in STP.items():
        market.run(SetAccountLimits(market.ts(), account, int(mode), 0, 0, 0))
    reference = ReferenceBook()
    accepted: list[tuple[str, str, int]] = []  # (account, cl_ord_id, order_id) of accepted orders
    for op in stream:
        if op[0] == "new":
            _, account, side, kind, price, qty = op
            tif = {"ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}.get(kind, TimeInForce.DAY)
            market_order = kind == "market"
            cl_ord_id = f"n{len(accepted)}-{market.ts()}"
            outcome = market.new(
                account,
                side,
                qty,
                0 if market_order else price,
                cl_ord_id=cl_ord_id,
                tif=tif,
                post_only=kind == "post",
            )
            limit = (1050 if side == Side.BUY else 950) if market_order else price
            order_id = outcome.reports[0].order_id
            expected = reference.submit(
                order_id=order_id,
                account=account,
                side=side,
                limit=limit,
                qty=qty,
                tif=tif,
                post_only=kind == "post",
                market=market_order,
                stp_mode=STP[account],
            )
            assert outcome.accepted == expected.accepted
            trades = engine_trades(outcome)
            assert trades == expected.trades
            check_price_walk(trades, side)
            if outcome.accepted:
                accepted.append((account, cl_ord_id, order_id))
        elif accepted:
            account, cl_ord_id, order_id = accepted[op[1] % len(accepted)]
            if op[0] == "cancel":
                outcome = market.cancel(account, cl_ord_id)
                assert outcome.accepted == reference.cancel(order_id)
            else:
                _, _, qty, price = op
                original = reference.find(order_id)
                side = original.side if original is not None else int(Side.BUY)
                new_id = f"r{market.ts()}"
                outcome = market.replace(account, cl_ord_id, side, qty, price, cl_ord_id=new_id)
                expected = reference.replace(order_id, qty=qty, price=price, stp_mode=STP[account])
                assert outcome.accepted == expected.accepted
                assert engine_trades(outcome) == expected.trades
                if outcome.accepted:
                    accepted.append((account, new_id, order_id))
        for side in (1, 2):
            fast = [(p, [(o.order_id, o.leaves) for o in orders]) for p, orders in market.book.levels(side)]
            assert fast == reference.depth(side)
        check_invariants(market)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=streams, limit=st.integers(5, 40), band=st.sampled_from([0, 30, 60]))
def test_invariants_hold_with_risk_controls_and_circuit_breaker(
    make_market: Any, stream: list[tuple[Any, ...]], limit: int, band: int
) -> None:
    """With position/credit limits and a circuit breaker, the book and accounts stay consistent,
    limits are never exceeded by what an account has resting plus its position, and a snapshot
    taken at the end restores to the same digest."""
    from hive_runtime.trading.commands import SetSymbolLimits
    from hive_runtime.trading.machine import TradingStateMachine

    market = make_market(band_bps=band, band_window_us=5_000, collar_bps=100)
    for account, mode in STP.items():
        market.run(SetAccountLimits(market.ts(), account, int(mode), 2_000 * limit, 0, 0))
        market.run(SetSymbolLimits(market.ts(), account, "*", 0, 0, 2 * limit, limit))
    live: list[tuple[str, str, int]] = []
    for op in stream:
        if op[0] == "new":
            _, account, side, kind, price, qty = op
            tif = {"ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}.get(kind, TimeInForce.DAY)
            cl = f"n{market.ts()}"
            outcome = market.new(
                account,
                side,
                qty,
                0 if kind == "market" else price,
                cl_ord_id=cl,
                tif=tif,
                post_only=kind == "post",
            )
            engine_trades(outcome)
            if outcome.accepted:
                live.append((account, cl, side))
        elif live:
            account, cl, side = live[op[1] % len(live)]
            if op[0] == "cancel":
                market.cancel(account, cl)
            else:
                new_cl = f"r{market.ts()}"
                if market.replace(account, cl, side, op[2], op[3], cl_ord_id=new_cl).accepted:
                    live.append((account, new_cl, side))
        check_invariants(market)
        for account in market.machine.engine.accounts.values():
            buy, sell = account.exposure.get("X", [0, 0])
            position = account.positions["X"].qty if "X" in account.positions else 0
            assert abs(position) + buy + sell <= 2 * limit
            assert position + buy <= limit and sell - position <= limit
            assert account.open_notional <= 2_000 * limit
    restored = TradingStateMachine()
    restored.restore(market.machine.snapshot())
    assert restored.digest() == market.machine.digest()
