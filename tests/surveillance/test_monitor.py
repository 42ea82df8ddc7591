"""Surveillance detectors raise alerts (and halts) as ordinary commands the state machine accepts."""

from __future__ import annotations

import itertools

from hive_runtime.surveillance import SurveillanceConfig, SurveillanceMonitor
from hive_runtime.trading.codec import decode_command, encode_command
from hive_runtime.trading.commands import (
    AddAccount,
    AddInstrument,
    Command,
    NewOrderSingle,
    OrderCancelRequest,
    Outcome,
    SetSymbolHalt,
    SurveillanceAlert,
)
from hive_runtime.trading.machine import TradingStateMachine
from hive_runtime.trading.types import RejectReason


class Desk:
    """A machine plus a monitor observing every command, as the leader would wire them."""

    def __init__(self, config: SurveillanceConfig) -> None:
        self.machine = TradingStateMachine()
        self.monitor = SurveillanceMonitor(config)
        self.clock = itertools.count(1_000_000, 1_000)
        self.ids = itertools.count()
        self.run(AddInstrument(self.ts(), "X", 1, 1, 10_000))
        for account in ("spoofer", "mm", "taker"):
            self.run(AddAccount(self.ts(), account))

    def ts(self) -> int:
        return next(self.clock)

    def run(self, command: Command) -> Outcome:
        outcome = self.machine.execute(command)
        self.monitor.observe(command, outcome)
        return outcome

    def order(self, account: str, side: int, qty: int, price: int) -> str:
        cl = f"{account}{next(self.ids)}"
        self.run(NewOrderSingle(self.ts(), account, cl, "X", side, 2, qty, price))
        return cl

    def propose(self) -> list[Command]:
        """What the leader would propose: round trip through the codec, then apply."""
        proposals = [decode_command(encode_command(c)) for c in self.monitor.evaluate()]
        for command in proposals:
            assert self.run(command).accepted
        return proposals


def test_order_to_trade_ratio_alert() -> None:
    desk = Desk(SurveillanceConfig(min_messages=40, order_to_trade_max=10))
    for i in range(30):
        cl = desk.order("spoofer", 1, 5, 9_900 - i)
        desk.run(OrderCancelRequest(desk.ts(), "spoofer", f"c{cl}", cl, "X"))
    alerts = [c for c in desk.propose() if isinstance(c, SurveillanceAlert)]
    assert [(a.kind, a.account) for a in alerts] == [("order_to_trade", "spoofer")]
    assert alerts[0].score_milli == 60_000  # 60 messages, no fills
    assert desk.machine.engine.alert_count == 1
    assert desk.propose() == []  # cooldown: not repeated


def test_layering_alert() -> None:
    desk = Desk(SurveillanceConfig(min_messages=1_000, layering_levels=3))
    layers = [desk.order("spoofer", 1, 50, price) for price in (9_990, 9_985, 9_980, 9_975)]
    desk.order("mm", 1, 5, 9_995)
    desk.order("spoofer", 2, 5, 9_995)  # sells into the bid the layers made look strong
    for cl in layers:
        desk.run(OrderCancelRequest(desk.ts(), "spoofer", f"c{cl}", cl, "X"))
    alerts = desk.propose()
    assert [(a.kind, a.account, a.score_milli) for a in alerts if isinstance(a, SurveillanceAlert)] == [
        ("layering", "spoofer", 4_000)
    ]


def test_price_move_zscore_halts_the_symbol() -> None:
    desk = Desk(SurveillanceConfig(min_messages=10_000, min_returns=20, zscore_alert=4, zscore_halt=6))
    for i in range(40):
        price = 10_000 + (i % 3)
        desk.order("mm", 2, 1, price)
        desk.order("taker", 1, 1, price)
    assert desk.propose() == []  # normal flow raises nothing
    desk.order("mm", 2, 1, 10_400)
    desk.order("taker", 1, 1, 10_400)
    proposals = desk.propose()
    kinds = [(type(c).__name__, getattr(c, "kind", "")) for c in proposals]
    assert kinds == [("SurveillanceAlert", "price_move"), ("SetSymbolHalt", "")]
    assert isinstance(proposals[1], SetSymbolHalt) and proposals[1].halted
    outcome = desk.machine.execute(NewOrderSingle(desk.ts(), "taker", "late", "X", 1, 2, 1, 10_000))
    assert outcome.reject_reason == RejectReason.SYMBOL_HALTED


def test_old_events_leave_the_window() -> None:
    desk = Desk(SurveillanceConfig(window_us=50_000, min_messages=20, order_to_trade_max=5))
    for i in range(30):
        cl = desk.order("spoofer", 1, 1, 9_000 + i)
        desk.run(OrderCancelRequest(desk.ts(), "spoofer", f"c{cl}", cl, "X"))
    assert desk.monitor.evaluate(now_us=desk.ts() + 10_000_000) == []


def test_the_kept_fill_counts_match_the_window_as_events_come_and_expire() -> None:
    """The order-to-trade detector reads per-account fill counts kept as events arrive and leave
    the window (an evaluation costs O(accounts)); they must equal a count over the window."""
    desk = Desk(SurveillanceConfig(window_us=40_000, min_messages=5, order_to_trade_max=1))
    for i in range(300):
        price = 10_000 + (i * 7) % 11 - 5
        desk.order("mm" if i % 3 else "taker", 1 + i % 2, 1 + i % 4, price)
        if i % 17 == 0:
            desk.monitor.evaluate()
            for account, events in desk.monitor._flow.items():
                assert desk.monitor._flow_fills[account] == sum(kind for _, kind in events), account
    assert any(desk.monitor._flow_fills.values())  # trades did happen in the window
