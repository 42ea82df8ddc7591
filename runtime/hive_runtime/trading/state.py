"""Reference data and per-account risk state held by the engine.

Plain ``__slots__`` classes with integer fields: they are touched on every order, and they are
serialised field by field into the canonical snapshot (see :mod:`hive_runtime.trading.snapshot`).
"""

from __future__ import annotations

from collections import deque


class SymbolLimits:
    """Order and position limits of one account for one symbol (0 = no limit)."""

    __slots__ = ("max_gross_position", "max_net_position", "max_order_notional", "max_order_qty")

    def __init__(
        self, max_order_qty: int, max_order_notional: int, max_gross_position: int, max_net_position: int
    ) -> None:
        self.max_order_qty = max_order_qty
        self.max_order_notional = max_order_notional
        self.max_gross_position = max_gross_position
        self.max_net_position = max_net_position

    def as_list(self) -> list[int]:
        return [self.max_order_qty, self.max_order_notional, self.max_gross_position, self.max_net_position]


NO_LIMITS = SymbolLimits(0, 0, 0, 0)


class Position:
    """Net position of one account in one symbol with exact integer cost accounting.

    ``cost`` is the signed cost of the open position (sum of price * qty). Reducing a position
    removes cost pro rata with floor division, so realized P&L is exact up to one price unit per
    reduction and ``realized + unrealized`` is always exact.
    """

    __slots__ = ("cost", "qty", "realized")

    def __init__(self, qty: int = 0, cost: int = 0, realized: int = 0) -> None:
        self.qty = qty
        self.cost = cost
        self.realized = realized

    def apply_fill(self, signed_qty: int, price: int) -> None:
        qty = self.qty
        if qty == 0 or (qty > 0) == (signed_qty > 0):
            self.qty = qty + signed_qty
            self.cost += signed_qty * price
            return
        closing = min(abs(signed_qty), abs(qty))
        removed = self.cost * closing // abs(qty)
        # Closing a long (sell) realizes price*closing - removed; closing a short realizes the opposite.
        if qty > 0:
            self.realized += price * closing - removed
        else:
            self.realized += -removed - price * closing
        self.cost -= removed
        self.qty = qty + signed_qty
        rest = abs(signed_qty) - closing
        if rest:
            self.cost = (rest if signed_qty > 0 else -rest) * price

    @property
    def average_price(self) -> float:
        """Average open price (for display only; the state machine never uses floats)."""
        return self.cost / self.qty if self.qty else 0.0


class BandWindow:
    """Minimum and maximum trade price over a sliding time window (monotonic deques)."""

    __slots__ = ("maxs", "mins")

    def __init__(self) -> None:
        self.mins: deque[tuple[int, int]] = deque()
        self.maxs: deque[tuple[int, int]] = deque()

    def push(self, ts_us: int, price: int) -> None:
        mins, maxs = self.mins, self.maxs
        while mins and mins[-1][1] >= price:
            mins.pop()
        mins.append((ts_us, price))
        while maxs and maxs[-1][1] <= price:
            maxs.pop()
        maxs.append((ts_us, price))

    def expire(self, oldest_us: int) -> None:
        mins, maxs = self.mins, self.maxs
        while mins and mins[0][0] < oldest_us:
            mins.popleft()
        while maxs and maxs[0][0] < oldest_us:
            maxs.popleft()


class Instrument:
    __slots__ = (
        "band_bps",
        "band_window_us",
        "collar_bps",
        "halted",
        "last_price",
        "lot_size",
        "market_protection_bps",
        "reference_price",
        "restricted",
        "symbol",
        "tick_size",
        "window",
    )

    def __init__(self, symbol: str, tick_size: int, lot_size: int, reference_price: int) -> None:
        self.symbol = symbol
        self.tick_size = tick_size
        self.lot_size = lot_size
        self.reference_price = reference_price
        self.collar_bps = 0
        self.band_bps = 0
        self.band_window_us = 0
        self.market_protection_bps = 0
        self.halted = False
        self.restricted = False
        self.last_price = 0
        self.window = BandWindow()


class Account:
    """An account: limits, kill switch, throttle window, open-order exposure and positions."""

    __slots__ = (
        "account",
        "credit_limit",
        "default_limits",
        "exposure",
        "killed",
        "limits",
        "max_msgs",
        "msg_times",
        "open_notional",
        "positions",
        "stp_mode",
        "throttle_window_us",
    )

    def __init__(self, account: str) -> None:
        self.account = account
        self.stp_mode = 1
        self.credit_limit = 0
        self.max_msgs = 0
        self.throttle_window_us = 0
        self.killed = False
        self.msg_times: deque[int] = deque()
        self.open_notional = 0
        self.default_limits = NO_LIMITS
        self.limits: dict[str, SymbolLimits] = {}
        # symbol -> [open buy qty, open sell qty] of resting orders
        self.exposure: dict[str, list[int]] = {}
        self.positions: dict[str, Position] = {}

    def throttled(self, ts_us: int) -> bool:
        """Count one message at ``ts_us``; True if it exceeds ``max_msgs`` within the window."""
        times = self.msg_times
        oldest = ts_us - self.throttle_window_us
        while times and times[0] <= oldest:
            times.popleft()
        if len(times) >= self.max_msgs:
            return True
        times.append(ts_us)
        return False

    def position(self, symbol: str) -> Position:
        position = self.positions.get(symbol)
        if position is None:
            position = self.positions[symbol] = Position()
        return position

    def symbol_exposure(self, symbol: str) -> list[int]:
        exposure = self.exposure.get(symbol)
        if exposure is None:
            exposure = self.exposure[symbol] = [0, 0]
        return exposure
