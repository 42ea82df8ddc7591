"""Shared helpers for trading tests: a small market with accounts and a symbol, and command makers."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from hive_runtime.trading.commands import (
    AddAccount,
    AddInstrument,
    Command,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    Outcome,
)
from hive_runtime.trading.machine import TradingStateMachine
from hive_runtime.trading.types import ExecType, OrdType, Side, TimeInForce

BUY = int(Side.BUY)
SELL = int(Side.SELL)


class Market:
    """A state machine with symbol ``X`` (tick 1, lot 1, reference 1000) and accounts a, b, c."""

    def __init__(self, **instrument: Any) -> None:
        self.machine = TradingStateMachine(checkpoint_every=50)
        self.clock = itertools.count(1_000_000, 10)
        self.ids = itertools.count(1)
        self.run(
            AddInstrument(
                self.ts(), "X", **{"tick_size": 1, "lot_size": 1, "reference_price": 1000, **instrument}
            )
        )
        for account in ("a", "b", "c"):
            self.run(AddAccount(self.ts(), account))

    def ts(self) -> int:
        return next(self.clock)

    def run(self, command: Command) -> Outcome:
        return self.machine.execute(command)

    def new(
        self,
        account: str,
        side: int,
        qty: int,
        price: int = 0,
        *,
        cl_ord_id: str | None = None,
        tif: int = TimeInForce.DAY,
        post_only: bool = False,
        symbol: str = "X",
        ts: int | None = None,
    ) -> Outcome:
        ord_type = OrdType.LIMIT if price else OrdType.MARKET
        command = NewOrderSingle(
            ts if ts is not None else self.ts(),
            account,
            cl_ord_id or f"o{next(self.ids)}",
            symbol,
            side,
            int(ord_type),
            qty,
            price,
            int(tif),
            post_only,
        )
        return self.run(command)

    def cancel(self, account: str, orig: str, *, symbol: str = "X") -> Outcome:
        return self.run(OrderCancelRequest(self.ts(), account, f"x{next(self.ids)}", orig, symbol))

    def replace(
        self, account: str, orig: str, side: int, qty: int, price: int, *, cl_ord_id: str | None = None
    ) -> Outcome:
        new_id = cl_ord_id or f"r{next(self.ids)}"
        return self.run(OrderCancelReplaceRequest(self.ts(), account, new_id, orig, "X", side, qty, price))

    @property
    def book(self) -> Any:
        return self.machine.engine.books["X"]

    def position(self, account: str) -> int:
        pos = self.machine.engine.accounts[account].positions.get("X")
        return pos.qty if pos is not None else 0

    @staticmethod
    def trades(outcome: Outcome) -> list[tuple[int, int, int]]:
        """(order_id, last_qty, last_px) of every trade report."""
        return [(r.order_id, r.last_qty, r.last_px) for r in outcome.reports if r.exec_type == ExecType.TRADE]

    @staticmethod
    def last_status(outcome: Outcome) -> tuple[str, str, int]:
        report = outcome.reports[-1]
        return report.exec_type, report.ord_status, report.reject_reason


@pytest.fixture
def market() -> Market:
    return Market()


@pytest.fixture
def make_market() -> type[Market]:
    """The Market class, for tests that need an instrument with particular risk settings."""
    return Market
