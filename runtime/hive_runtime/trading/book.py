"""The limit order book of one symbol: price levels with FIFO queues, price-time priority matching.

Layout chosen for CPython speed on the hot path:
- each side is a dict ``price -> Level`` plus a sorted list of keys, best price LAST so that the
  best level is ``keys[-1]`` and removing it is a cheap ``pop()``. Bid keys are prices ascending;
  ask keys are negated prices ascending (so the lowest ask is last too).
- a level holds a ``deque`` of orders and the sum of their leaves quantity. Cancel is O(1): the
  order's ``leaves`` becomes 0 and it stays in the deque as a tombstone that matching skips; a
  level whose quantity drops to zero is removed with its tombstones.

The book knows nothing about risk or positions: :meth:`OrderBook.match` executes an incoming order
against the opposite side within a limit and a circuit-breaker band, applies self-trade prevention
and returns what happened; the engine turns that into reports, positions and exposure.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque

from hive_runtime.trading.types import StpMode

BUY = 1
SELL = 2
CANCEL_INCOMING = int(StpMode.CANCEL_INCOMING)
NO_LIMIT = (1 << 63) - 1


class Order:
    """A resting (or incoming) order. ``qty`` is the total order quantity (FIX OrderQty)."""

    __slots__ = ("account", "cl_ord_id", "cum", "leaves", "order_id", "price", "qty", "side", "symbol")

    def __init__(  # noqa: PLR0917 - hot path, positional calls are cheaper
        self,
        order_id: int,
        account: str,
        cl_ord_id: str,
        symbol: str,
        side: int,
        price: int,
        qty: int,
        leaves: int,
        cum: int,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.cl_ord_id = cl_ord_id
        self.symbol = symbol
        self.side = side
        self.price = price
        self.qty = qty
        self.leaves = leaves
        self.cum = cum


class Level:
    __slots__ = ("orders", "qty")

    def __init__(self) -> None:
        self.orders: deque[Order] = deque()
        self.qty = 0


class MatchResult:
    """What one call to :meth:`OrderBook.match` did."""

    __slots__ = ("band_stop", "fills", "self_trade_canceled", "stp_incoming")

    def __init__(self) -> None:
        self.fills: list[tuple[Order, int, int]] = []  # (maker, qty, price)
        self.self_trade_canceled: list[Order] = []  # resting orders canceled by STP
        self.stp_incoming = False  # matching stopped: incoming order must be canceled (STP)
        self.band_stop = False  # matching stopped at the circuit-breaker band


class OrderBook:
    __slots__ = ("ask_keys", "asks", "bid_keys", "bids", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[int, Level] = {}
        self.asks: dict[int, Level] = {}
        self.bid_keys: list[int] = []
        self.ask_keys: list[int] = []

    # ---- queries -------------------------------------------------------------------------------
    def best_bid(self) -> int | None:
        return self.bid_keys[-1] if self.bid_keys else None

    def best_ask(self) -> int | None:
        return -self.ask_keys[-1] if self.ask_keys else None

    def crosses(self, side: int, price: int) -> bool:
        """Would an order on ``side`` at ``price`` trade against the resting opposite side?"""
        if side == BUY:
            keys = self.ask_keys
            return bool(keys) and -keys[-1] <= price
        keys = self.bid_keys
        return bool(keys) and keys[-1] >= price

    def levels(self, side: int) -> list[tuple[int, list[Order]]]:
        """Live orders of one side, best level first, each level in time priority."""
        if side == BUY:
            return [(p, [o for o in self.bids[p].orders if o.leaves]) for p in reversed(self.bid_keys)]
        return [(-k, [o for o in self.asks[-k].orders if o.leaves]) for k in reversed(self.ask_keys)]

    # ---- resting orders ------------------------------------------------------------------------
    def add(self, order: Order) -> None:
        """Rest ``order`` at the back of its price level (caller ensures it does not cross)."""
        price = order.price
        if order.side == BUY:
            level = self.bids.get(price)
            if level is None:
                level = self.bids[price] = Level()
                keys = self.bid_keys
                if not keys or price > keys[-1]:
                    keys.append(price)
                else:
                    keys.insert(bisect_left(keys, price), price)
        else:
            level = self.asks.get(price)
            if level is None:
                level = self.asks[price] = Level()
                keys = self.ask_keys
                key = -price
                if not keys or key > keys[-1]:
                    keys.append(key)
                else:
                    keys.insert(bisect_left(keys, key), key)
        level.orders.append(order)
        level.qty += order.leaves

    def remove(self, order: Order) -> None:
        """Take a resting order out of the book (cancel); leaves a tombstone, O(1) unless level empties."""
        if order.side == BUY:
            book, keys, key = self.bids, self.bid_keys, order.price
        else:
            book, keys, key = self.asks, self.ask_keys, -order.price
        level = book[order.price]
        level.qty -= order.leaves
        order.leaves = 0
        if level.qty == 0:
            del book[order.price]
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]

    def reduce(self, order: Order, new_leaves: int) -> None:
        """Lower a resting order's leaves quantity in place (keeps time priority)."""
        book = self.bids if order.side == BUY else self.asks
        book[order.price].qty -= order.leaves - new_leaves
        order.leaves = new_leaves

    # ---- matching ------------------------------------------------------------------------------
    def fillable(  # noqa: PLR0917 - hot path, positional calls are cheaper
        self, side: int, limit: int, band_lo: int, band_hi: int, account: str, stp_mode: int, qty: int
    ) -> bool:
        """Could an order of ``qty`` be filled completely right now (fill-or-kill pre-check)?

        Walks the opposite side exactly as :meth:`match` would, counting other accounts' orders;
        reaching an own order with STP "cancel incoming" before the quantity is reached fails.
        """
        needed = qty
        if side == BUY:
            book, keys, sign = self.asks, self.ask_keys, -1
        else:
            book, keys, sign = self.bids, self.bid_keys, 1
        for i in range(len(keys) - 1, -1, -1):
            price = keys[i] * sign
            if (price > limit) if side == BUY else (price < limit):
                return False
            if price < band_lo or price > band_hi:
                return False
            for order in book[price].orders:
                if not order.leaves:
                    continue
                if order.account == account:
                    if stp_mode == CANCEL_INCOMING:
                        return False
                    continue
                needed -= order.leaves
                if needed <= 0:
                    return True
        return False

    def match(  # noqa: PLR0917 - hot path, positional calls are cheaper
        self,
        incoming: Order,
        limit: int,
        band_lo: int,
        band_hi: int,
        band_width: int,
        stp_mode: int,
    ) -> MatchResult:
        """Execute ``incoming`` against the opposite side at prices up to ``limit`` (inclusive).

        Trades happen only at prices inside ``[band_lo, band_hi]``; once the first trade is at
        ``p``, the band also narrows to ``p +- band_width`` (the price may not run further than the
        band within one order). Updates ``incoming.leaves``/``cum`` and the makers in place.
        """
        result = MatchResult()
        fills = result.fills
        account = incoming.account
        if incoming.side == BUY:
            book, keys, sign = self.asks, self.ask_keys, -1
        else:
            book, keys, sign = self.bids, self.bid_keys, 1
        remaining = incoming.leaves
        first = True
        while remaining and keys:
            price = keys[-1] * sign
            if (price > limit) if sign == -1 else (price < limit):
                break
            if price < band_lo or price > band_hi:
                result.band_stop = True
                break
            if first:
                first = False
                if sign == -1:
                    band_hi = min(band_hi, price + band_width)
                else:
                    band_lo = max(band_lo, price - band_width)
            level = book[price]
            queue = level.orders
            while remaining and queue:
                maker = queue[0]
                leaves = maker.leaves
                if not leaves:
                    queue.popleft()
                    continue
                if maker.account == account:
                    if stp_mode == CANCEL_INCOMING:
                        result.stp_incoming = True
                        break
                    queue.popleft()
                    level.qty -= leaves
                    maker.leaves = 0
                    result.self_trade_canceled.append(maker)
                    continue
                traded = leaves if leaves < remaining else remaining
                remaining -= traded
                maker.leaves = leaves - traded
                maker.cum += traded
                level.qty -= traded
                fills.append((maker, traded, price))
                if maker.leaves == 0:
                    queue.popleft()
            if level.qty == 0:
                del book[price]
                keys.pop()
            if result.stp_incoming:
                break
        incoming.cum += incoming.leaves - remaining
        incoming.leaves = remaining
        return result
