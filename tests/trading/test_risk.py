"""Every pre-trade control rejects with its own reason code, and limits change only by command."""

from __future__ import annotations

from typing import Any

from hive_runtime.trading.commands import (
    AddInstrument,
    SetAccountLimits,
    SetKillSwitch,
    SetReferencePrice,
    SetRestricted,
    SetSymbolHalt,
    SetSymbolLimits,
)
from hive_runtime.trading.types import ExecType, RejectReason, Side

BUY = int(Side.BUY)
SELL = int(Side.SELL)


def limits(market: Any, account: str, symbol: str = "*", **values: int) -> None:
    assert market.run(SetSymbolLimits(market.ts(), account, symbol, **values)).accepted


def test_max_order_quantity(market: Any) -> None:
    limits(market, "a", max_order_qty=10)
    assert market.new("a", BUY, 11, 999).reject_reason == RejectReason.MAX_ORDER_QUANTITY
    assert market.new("a", BUY, 10, 999).accepted


def test_symbol_specific_limits_override_the_default(market: Any) -> None:
    limits(market, "a", max_order_qty=10)
    limits(market, "a", "X", max_order_qty=100)
    assert market.new("a", BUY, 50, 999).accepted


def test_max_order_notional(market: Any) -> None:
    limits(market, "a", max_order_notional=10_000)
    assert market.new("a", BUY, 11, 1000).reject_reason == RejectReason.MAX_ORDER_NOTIONAL
    assert market.new("a", BUY, 10, 1000).accepted


def test_price_collar_around_reference_price(make_market: Any) -> None:
    market = make_market(collar_bps=500)  # +-5% of 1000
    assert market.new("a", BUY, 1, 1051).reject_reason == RejectReason.PRICE_COLLAR
    assert market.new("a", SELL, 1, 949).reject_reason == RejectReason.PRICE_COLLAR
    assert market.new("a", BUY, 1, 1050).accepted
    market.run(SetReferencePrice(market.ts(), "X", 1100))
    assert market.new("a", BUY, 1, 1156).reject_reason == RejectReason.PRICE_COLLAR
    assert market.new("a", BUY, 1, 1120).accepted


def test_gross_position_limit_counts_position_and_open_orders(market: Any) -> None:
    limits(market, "a", max_gross_position=10)
    assert market.new("a", BUY, 6, 999).accepted
    assert market.new("a", SELL, 5, 1001).reject_reason == RejectReason.GROSS_POSITION_LIMIT
    assert market.new("a", SELL, 4, 1001).accepted


def test_net_position_limit_counts_position_and_same_side_orders(market: Any) -> None:
    limits(market, "a", max_net_position=10)
    market.new("b", SELL, 8, 1000)
    assert market.new("a", BUY, 8, 1000).accepted  # now long 8
    assert market.new("a", BUY, 3, 990).reject_reason == RejectReason.NET_POSITION_LIMIT
    assert market.new("a", BUY, 2, 990).accepted
    assert market.new("a", SELL, 18, 1010).accepted  # could take it to -10
    assert market.new("a", SELL, 1, 1010).reject_reason == RejectReason.NET_POSITION_LIMIT


def test_credit_limit_counts_open_order_notional(market: Any) -> None:
    market.run(SetAccountLimits(market.ts(), "a", 1, 20_000, 0, 0))
    assert market.new("a", BUY, 15, 1000, cl_ord_id="big").accepted
    assert market.new("a", SELL, 6, 1001).reject_reason == RejectReason.CREDIT_LIMIT
    market.cancel("a", "big")
    assert market.new("a", SELL, 6, 1001).accepted


def test_message_throttle_uses_command_timestamps(market: Any) -> None:
    market.run(SetAccountLimits(market.ts(), "a", 1, 0, 3, 1_000))
    base = 5_000_000
    for i in range(3):
        assert market.new("a", BUY, 1, 990, ts=base + i).accepted
    assert market.new("a", BUY, 1, 990, ts=base + 10).reject_reason == RejectReason.THROTTLE
    assert market.new("a", BUY, 1, 990, ts=base + 1_000).accepted  # the first left the window
    assert market.new("b", BUY, 1, 990, ts=base + 1_000).accepted  # other accounts unaffected


def test_duplicate_client_order_id_maps_to_the_original(market: Any) -> None:
    first = market.new("a", BUY, 1, 990, cl_ord_id="same")
    again = market.new("a", BUY, 1, 990, cl_ord_id="same")
    assert again.reject_reason == RejectReason.DUPLICATE_CL_ORD_ID
    assert again.reports[0].order_id == first.reports[0].order_id
    original = market.machine.lookup_client_order("a", "same")
    assert original is not None and original.order_id == first.reports[0].order_id
    assert market.new("b", BUY, 1, 990, cl_ord_id="same").accepted  # ids are per account


def test_rejected_client_order_id_cannot_be_reused(market: Any) -> None:
    limits(market, "a", max_order_qty=1)
    assert market.new("a", BUY, 2, 990, cl_ord_id="r").reject_reason == RejectReason.MAX_ORDER_QUANTITY
    assert market.new("a", BUY, 1, 990, cl_ord_id="r").reject_reason == RejectReason.DUPLICATE_CL_ORD_ID
    entry = market.machine.lookup_client_order("a", "r")
    assert entry.reject_reason == RejectReason.MAX_ORDER_QUANTITY and entry.order_id == 0


def test_restricted_symbol(market: Any) -> None:
    market.run(SetRestricted(market.ts(), "X", True))
    assert market.new("a", BUY, 1, 990).reject_reason == RejectReason.RESTRICTED_SYMBOL
    market.run(SetRestricted(market.ts(), "X", False))
    assert market.new("a", BUY, 1, 990).accepted


def test_account_kill_switch_cancels_resting_and_rejects_until_reset(market: Any) -> None:
    market.new("a", BUY, 1, 990)
    market.new("a", SELL, 1, 1010)
    market.new("b", BUY, 1, 991)
    out = market.run(SetKillSwitch(market.ts(), "a", True))
    assert [(r.order_id, r.exec_type, r.reject_reason) for r in out.reports] == [
        (1, ExecType.CANCELED, RejectReason.KILL_SWITCH),
        (2, ExecType.CANCELED, RejectReason.KILL_SWITCH),
    ]
    assert market.book.best_bid() == 991 and market.book.best_ask() is None
    assert market.new("a", BUY, 1, 990).reject_reason == RejectReason.KILL_SWITCH
    assert market.new("b", BUY, 1, 990).accepted
    market.run(SetKillSwitch(market.ts(), "a", False))
    assert market.new("a", BUY, 1, 990).accepted


def test_global_kill_switch(market: Any) -> None:
    market.new("a", BUY, 1, 990)
    market.new("b", SELL, 1, 1010)
    out = market.run(SetKillSwitch(market.ts(), "", True))
    assert len(out.reports) == 2
    assert market.book.best_bid() is None and market.book.best_ask() is None
    assert market.new("c", BUY, 1, 990).reject_reason == RejectReason.KILL_SWITCH
    market.run(SetKillSwitch(market.ts(), "", False))
    assert market.new("c", BUY, 1, 990).accepted


def test_symbol_halt_rejects_orders_but_allows_cancels(market: Any) -> None:
    market.new("a", BUY, 1, 990, cl_ord_id="resting")
    market.run(SetSymbolHalt(market.ts(), "X", True))
    assert market.new("a", BUY, 1, 990).reject_reason == RejectReason.SYMBOL_HALTED
    assert market.cancel("a", "resting").accepted
    market.run(SetSymbolHalt(market.ts(), "X", False))
    assert market.new("a", BUY, 1, 990).accepted


def test_circuit_breaker_halts_when_price_moves_beyond_band_in_window(make_market: Any) -> None:
    market = make_market(band_bps=200, band_window_us=1_000_000)  # band 20 on reference 1000
    market.new("a", SELL, 1, 1000)
    market.new("a", SELL, 1, 1015)
    market.new("a", SELL, 1, 1030)
    out = market.new("b", BUY, 3, 1030)
    assert [t[2] for t in market.trades(out)] == [1000, 1000, 1015, 1015]
    assert market.last_status(out)[2] == RejectReason.CIRCUIT_BREAKER
    assert market.machine.engine.instruments["X"].halted
    assert market.new("b", BUY, 1, 1030).reject_reason == RejectReason.SYMBOL_HALTED
    market.run(SetSymbolHalt(market.ts(), "X", False))
    assert market.trades(market.new("b", BUY, 1, 1030)) == [(5, 1, 1030), (3, 1, 1030)]


def test_circuit_breaker_window_expires_with_command_time(make_market: Any) -> None:
    market = make_market(band_bps=200, band_window_us=1_000)
    market.new("a", SELL, 1, 1000, ts=10_000_000)
    market.new("b", BUY, 1, 1000, ts=10_000_001)
    market.new("a", SELL, 1, 1025, ts=10_000_002)
    assert (
        market.new("b", BUY, 1, 1025, ts=10_000_003).reports[-1].reject_reason == RejectReason.CIRCUIT_BREAKER
    )
    market.run(SetSymbolHalt(market.ts(), "X", False))
    market.new("a", SELL, 1, 1000, ts=20_000_000)
    market.new("b", BUY, 1, 1000, ts=20_000_001)
    out = market.new("b", BUY, 1, 1025, ts=20_002_000)  # 2 ms later: window emptied
    assert market.trades(out) == [(7, 1, 1025), (3, 1, 1025)]


def test_reference_data_validation(market: Any) -> None:
    assert market.run(AddInstrument(market.ts(), "Y", 5, 10, 1000)).accepted
    assert market.new("a", BUY, 15, 1000, symbol="Y").reject_reason == RejectReason.INVALID_QUANTITY
    assert market.new("a", BUY, 10, 1003, symbol="Y").reject_reason == RejectReason.INVALID_PRICE
    assert market.new("a", BUY, 10, 1005, symbol="Y").accepted
    assert market.new("a", BUY, 1, 1000, symbol="Z").reject_reason == RejectReason.UNKNOWN_SYMBOL
    assert market.new("nobody", BUY, 1, 1000).reject_reason == RejectReason.UNKNOWN_ACCOUNT
    assert market.run(AddInstrument(market.ts(), "Y", 1, 1, 0)).reject_reason == RejectReason.ALREADY_EXISTS
    assert market.run(AddInstrument(market.ts(), "N", 1, 1, 0)).accepted
    assert market.new("a", BUY, 1, symbol="N").reject_reason == RejectReason.NO_REFERENCE_PRICE


def test_forgetting_client_order_ids_keeps_live_orders(market: Any) -> None:
    from hive_runtime.trading.commands import ForgetClientOrderIds

    market.new("a", BUY, 1, 990, cl_ord_id="live")
    market.new("a", BUY, 1, 990, cl_ord_id="gone")
    market.cancel("a", "gone")
    assert market.run(ForgetClientOrderIds(market.ts())).accepted
    assert market.machine.lookup_client_order("a", "gone") is None
    assert market.new("a", BUY, 1, 990, cl_ord_id="gone").accepted  # a new trading day
    assert market.new("a", BUY, 1, 990, cl_ord_id="live").reject_reason == RejectReason.DUPLICATE_CL_ORD_ID
    assert market.cancel("a", "live").accepted
