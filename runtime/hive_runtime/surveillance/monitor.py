"""Order-to-trade ratio, layering and price-move z-score detectors over a sliding time window.

Feed every applied command and its outcome to :meth:`SurveillanceMonitor.observe` (on the leader,
after apply), then call :meth:`SurveillanceMonitor.evaluate` periodically; it returns commands to
propose. Detectors:

- ``order_to_trade``: per account, (new + replace + cancel messages) / max(1, fills) over the
  window, when the account sent at least ``min_messages``;
- ``layering``: an account canceled orders at ``layering_levels`` or more distinct prices on one
  side while it traded on the other side within the window (the classic pattern of building a
  fake book on one side to get filled on the other);
- ``price_move``: per symbol, the z-score of the latest trade-to-trade log return against the
  returns in the window; above ``zscore_halt`` the monitor also proposes halting the symbol.

An alert for the same detector and subject is not repeated within ``cooldown_us``.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass

import numpy as np

from hive_runtime.trading.commands import (
    Command,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    Outcome,
    SetSymbolHalt,
    SurveillanceAlert,
)
from hive_runtime.trading.types import ExecType


@dataclass(frozen=True)
class SurveillanceConfig:
    window_us: int = 10_000_000
    min_messages: int = 50
    order_to_trade_max: float = 20.0
    layering_levels: int = 3
    min_returns: int = 20
    zscore_alert: float = 4.0
    zscore_halt: float = 6.0
    cooldown_us: int = 60_000_000


class SurveillanceMonitor:
    def __init__(self, config: SurveillanceConfig | None = None) -> None:
        self.config = config or SurveillanceConfig()
        # account -> deque of (ts, kind) with kind 0 = message, 1 = fill
        self._flow: dict[str, deque[tuple[int, int]]] = defaultdict(deque)
        # account -> how many of its _flow events are fills (kept as events come and go, so an
        # evaluation costs O(accounts), not O(window): the leader evaluates on its event loop)
        self._flow_fills: dict[str, int] = defaultdict(int)
        # account -> deque of (ts, side, price) of canceled orders, and (ts, side) of fills
        self._cancels: dict[str, deque[tuple[int, int, int]]] = defaultdict(deque)
        self._fills: dict[str, deque[tuple[int, int]]] = defaultdict(deque)
        # symbol -> deque of (ts, price) of trades
        self._trades: dict[str, deque[tuple[int, int]]] = defaultdict(deque)
        self._last_alert: dict[tuple[str, str], int] = {}
        self._halted: set[str] = set()
        self.now_us = 0

    # ---- input -------------------------------------------------------------------------------------
    def observe(self, command: Command, outcome: Outcome) -> None:
        ts = command.ts_us
        self.now_us = max(self.now_us, ts)
        if isinstance(command, (NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest)):
            self._flow[command.account].append((ts, 0))
        for report in outcome.reports:
            if report.exec_type == ExecType.TRADE:
                self._flow[report.account].append((ts, 1))
                self._flow_fills[report.account] += 1
                self._fills[report.account].append((ts, report.side))
                if not self._trades[report.symbol] or self._trades[report.symbol][-1] != (ts, report.last_px):
                    self._trades[report.symbol].append((ts, report.last_px))
            elif report.exec_type == ExecType.CANCELED and report.reject_reason == 0 and report.price:
                self._cancels[report.account].append((ts, report.side, report.price))
        if isinstance(command, SetSymbolHalt) and not command.halted:
            self._halted.discard(command.symbol)

    # ---- detection ---------------------------------------------------------------------------------
    def evaluate(self, now_us: int | None = None) -> list[Command]:
        """Commands to propose now: alerts, and halts for extreme price moves."""
        now = self.now_us if now_us is None else now_us
        oldest = now - self.config.window_us
        for account, events in self._flow.items():
            while events and events[0][0] < oldest:
                if events.popleft()[1]:
                    self._flow_fills[account] -= 1
        for store in (self._cancels, self._fills, self._trades):
            for window in store.values():
                while window and window[0][0] < oldest:
                    window.popleft()
        proposals: list[Command] = []
        proposals += self._order_to_trade(now)
        proposals += self._layering(now)
        proposals += self._price_moves(now)
        return proposals

    def _alert(
        self, now: int, kind: str, *, symbol: str, account: str, score: float, detail: str
    ) -> list[Command]:
        subject = (kind, account or symbol)
        last = self._last_alert.get(subject)
        if last is not None and now - last < self.config.cooldown_us:
            return []
        self._last_alert[subject] = now
        return [SurveillanceAlert(now, symbol, account, kind, round(score * 1000), detail)]

    def _order_to_trade(self, now: int) -> list[Command]:
        out: list[Command] = []
        for account, events in sorted(self._flow.items()):
            if not events:
                continue
            fills = self._flow_fills[account]
            messages = len(events) - fills
            if messages < self.config.min_messages:
                continue
            ratio = messages / max(1, fills)
            if ratio > self.config.order_to_trade_max:
                detail = f"{messages} messages, {fills} fills in window"
                out += self._alert(
                    now, "order_to_trade", symbol="", account=account, score=ratio, detail=detail
                )
        return out

    def _layering(self, now: int) -> list[Command]:
        out: list[Command] = []
        for account, cancels in sorted(self._cancels.items()):
            fills = self._fills.get(account)
            if not cancels or not fills:
                continue
            canceled = np.array(list(cancels), dtype=np.int64)
            filled_sides = {side for _, side in fills}
            for side in (1, 2):
                opposite = 3 - side
                if opposite not in filled_sides:
                    continue
                levels = np.unique(canceled[canceled[:, 1] == side][:, 2])
                if len(levels) >= self.config.layering_levels:
                    detail = (
                        f"canceled at {len(levels)} price levels on side {side}, filled on side {opposite}"
                    )
                    out += self._alert(
                        now, "layering", symbol="", account=account, score=float(len(levels)), detail=detail
                    )
        return out

    def _price_moves(self, now: int) -> list[Command]:
        out: list[Command] = []
        for symbol, trades in sorted(self._trades.items()):
            if len(trades) < self.config.min_returns + 2:
                continue
            prices = np.array([price for _, price in trades], dtype=np.float64)
            returns = np.diff(np.log(prices))
            history, latest = returns[:-1], returns[-1]
            std = float(history.std())
            if std == 0.0:
                std = 1e-9
            z = abs(float(latest) - float(history.mean())) / std
            if z < self.config.zscore_alert:
                continue
            detail = (
                f"last return {float(latest):.5f}, window mean {float(history.mean()):.5f}, std {std:.5f}"
            )
            out += self._alert(now, "price_move", symbol=symbol, account="", score=z, detail=detail)
            if z >= self.config.zscore_halt and symbol not in self._halted:
                self._halted.add(symbol)
                out.append(SetSymbolHalt(now, symbol, True))
        return out
