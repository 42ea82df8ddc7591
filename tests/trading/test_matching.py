"""Order types, price-time priority, self-trade prevention and cancel/replace semantics."""

from __future__ import annotations

from typing import Any

from hive_runtime.trading.commands import SetAccountLimits
from hive_runtime.trading.types import ExecType, OrdStatus, RejectReason, Side, StpMode, TimeInForce

BUY = int(Side.BUY)
SELL = int(Side.SELL)


def test_limit_orders_rest_and_cross_at_resting_price(market: Any) -> None:
    market.new("a", SELL, 10, 1001, cl_ord_id="s1")
    market.new("a", BUY, 5, 999)
    out = market.new("b", BUY, 4, 1005)
    assert market.trades(out) == [(3, 4, 1001), (1, 4, 1001)]
    assert market.last_status(out)[:2] == (ExecType.TRADE, OrdStatus.PARTIALLY_FILLED)
    assert market.book.best_ask() == 1001 and market.book.best_bid() == 999
    assert market.position("b") == 4 and market.position("a") == -4


def test_price_then_time_priority(market: Any) -> None:
    market.new("a", SELL, 5, 1002)  # order 1
    market.new("b", SELL, 5, 1001)  # order 2: better price
    market.new("a", SELL, 5, 1001)  # order 3: same price, later
    out = market.new("c", BUY, 12, 1002)
    assert [t[0] for t in market.trades(out)] == [4, 2, 4, 3, 4, 1]
    assert [t[1] for t in market.trades(out)][1::2] == [5, 5, 2]


def test_ioc_remainder_is_canceled_and_does_not_rest(market: Any) -> None:
    market.new("a", SELL, 3, 1000)
    out = market.new("b", BUY, 5, 1000, tif=TimeInForce.IOC)
    assert market.trades(out)[0] == (2, 3, 1000)
    assert market.last_status(out) == (ExecType.CANCELED, OrdStatus.CANCELED, 0)
    assert market.book.best_bid() is None


def test_fok_fills_completely_or_not_at_all(market: Any) -> None:
    market.new("a", SELL, 3, 1000)
    market.new("a", SELL, 3, 1001)
    out = market.new("b", BUY, 7, 1001, tif=TimeInForce.FOK)
    assert market.trades(out) == []
    assert market.last_status(out) == (ExecType.CANCELED, OrdStatus.CANCELED, RejectReason.FOK_NOT_FILLABLE)
    out = market.new("b", BUY, 6, 1001, tif=TimeInForce.FOK)
    assert sum(t[1] for t in market.trades(out)) == 12  # 6 for the taker + 6 for the makers
    assert market.book.best_ask() is None


def test_market_order_stops_at_protection_price(market: Any) -> None:
    # reference 1000, default protection 500 bps -> buy up to 1050
    market.new("a", SELL, 2, 1040)
    market.new("a", SELL, 2, 1060)
    out = market.new("b", BUY, 4)
    assert market.trades(out) == [(3, 2, 1040), (1, 2, 1040)]
    assert market.last_status(out) == (ExecType.CANCELED, OrdStatus.CANCELED, RejectReason.NO_LIQUIDITY)
    assert market.book.best_ask() == 1060


def test_post_only_is_rejected_when_it_would_cross(market: Any) -> None:
    market.new("a", SELL, 2, 1000)
    out = market.new("b", BUY, 2, 1000, post_only=True)
    assert out.reject_reason == RejectReason.POST_ONLY_WOULD_CROSS
    out = market.new("b", BUY, 2, 999, post_only=True)
    assert out.accepted and market.book.best_bid() == 999


def test_self_trade_cancel_resting(market: Any) -> None:
    market.new("a", SELL, 2, 1000)
    market.new("b", SELL, 2, 1001)
    out = market.new("a", BUY, 3, 1001)
    canceled = [r for r in out.reports if r.exec_type == ExecType.CANCELED]
    assert [(r.order_id, r.reject_reason) for r in canceled] == [(1, RejectReason.SELF_TRADE_PREVENTED)]
    assert market.trades(out) == [(3, 2, 1001), (2, 2, 1001)]
    assert market.book.best_bid() == 1001


def test_self_trade_cancel_incoming(market: Any) -> None:
    market.run(SetAccountLimits(market.ts(), "a", int(StpMode.CANCEL_INCOMING), 0, 0, 0))
    market.new("b", SELL, 1, 999)
    market.new("a", SELL, 2, 1000)
    out = market.new("a", BUY, 3, 1000)
    assert market.trades(out) == [(3, 1, 999), (1, 1, 999)]
    assert market.last_status(out) == (
        ExecType.CANCELED,
        OrdStatus.CANCELED,
        RejectReason.SELF_TRADE_PREVENTED,
    )
    assert market.book.best_ask() == 1000


def test_cancel_removes_order_and_unknown_cancel_is_rejected(market: Any) -> None:
    market.new("a", BUY, 2, 999, cl_ord_id="b1")
    out = market.cancel("a", "b1")
    assert market.last_status(out) == (ExecType.CANCELED, OrdStatus.CANCELED, 0)
    assert out.reports[0].orig_cl_ord_id == "b1"
    assert market.book.best_bid() is None
    assert market.cancel("a", "b1").reject_reason == RejectReason.UNKNOWN_ORDER
    market.new("a", BUY, 2, 999, cl_ord_id="b2")
    assert market.cancel("b", "b2").reject_reason == RejectReason.UNKNOWN_ORDER


def test_replace_reducing_quantity_keeps_priority(market: Any) -> None:
    market.new("a", BUY, 5, 999, cl_ord_id="first")
    market.new("b", BUY, 5, 999, cl_ord_id="second")
    out = market.replace("a", "first", BUY, 3, 999, cl_ord_id="first2")
    assert market.last_status(out)[0] == ExecType.REPLACED
    out = market.new("c", SELL, 4, 999)
    assert market.trades(out)[:2] == [(3, 3, 999), (1, 3, 999)]


def test_replace_increasing_quantity_or_changing_price_loses_priority(market: Any) -> None:
    market.new("a", BUY, 5, 999, cl_ord_id="first")
    market.new("b", BUY, 5, 999, cl_ord_id="second")
    market.replace("a", "first", BUY, 6, 999, cl_ord_id="first2")
    out = market.new("c", SELL, 4, 999)
    assert market.trades(out)[1] == (2, 4, 999)
    market.replace("b", "second", BUY, 1, 998, cl_ord_id="second2")
    assert market.book.best_bid() == 999


def test_replace_that_crosses_trades_and_side_change_is_rejected(market: Any) -> None:
    market.new("a", SELL, 5, 1001)
    market.new("b", BUY, 5, 999, cl_ord_id="bid")
    assert market.replace("b", "bid", SELL, 5, 999).reject_reason == RejectReason.REPLACE_SIDE_CHANGE
    out = market.replace("b", "bid", BUY, 5, 1001, cl_ord_id="bid2")
    assert market.trades(out) == [(2, 5, 1001), (1, 5, 1001)]
    assert market.position("b") == 5


def test_replace_to_at_or_below_filled_quantity_is_rejected(market: Any) -> None:
    market.new("a", SELL, 10, 1000, cl_ord_id="ask")
    market.new("b", BUY, 4, 1000)
    assert market.replace("a", "ask", SELL, 4, 1000).reject_reason == RejectReason.INVALID_QUANTITY
    out = market.replace("a", "ask", SELL, 6, 1000, cl_ord_id="ask2")
    assert out.reports[0].leaves_qty == 2 and out.reports[0].cum_qty == 4


def test_positions_average_price_and_realized_pnl(market: Any) -> None:
    market.new("a", SELL, 10, 1000)
    market.new("b", BUY, 10, 1000)
    market.new("a", SELL, 10, 1100)
    market.new("b", BUY, 10, 1100)
    position = market.machine.engine.accounts["b"].positions["X"]
    assert position.qty == 20 and position.average_price == 1050
    market.new("c", BUY, 5, 1200)
    market.new("b", SELL, 5, 1200)
    assert position.qty == 15 and position.realized == 5 * (1200 - 1050)
    short = market.machine.engine.accounts["a"].positions["X"]
    assert short.qty == -20 and short.realized == 0
