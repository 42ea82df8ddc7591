"""A slow, obviously correct matcher for one book: the oracle for differential tests and the bench.

No clever data structures: resting orders are a plain list; every step sorts the candidates by
price-time priority and trades with the first. It implements the same order semantics as the
fast engine (limit, market with a protection price, IOC, FOK, post-only, self-trade prevention,
cancel, cancel/replace keeping priority only when the quantity is reduced at the same price) but
no risk controls and no circuit breaker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hive_runtime.trading.types import Side, StpMode, TimeInForce


@dataclass
class RefOrder:
    order_id: int
    account: str
    side: int
    price: int
    qty: int
    cum: int
    seq: int

    @property
    def leaves(self) -> int:
        return self.qty - self.cum


@dataclass
class RefResult:
    """Trades as ``(taker_id, maker_id, qty, price)``; ``rested`` if the remainder is in the book."""

    accepted: bool = True
    trades: list[tuple[int, int, int, int]] = field(default_factory=list)
    self_trade_canceled: list[int] = field(default_factory=list)
    rested: bool = False


class ReferenceBook:
    def __init__(self) -> None:
        self.orders: list[RefOrder] = []
        self._seq = 0

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    @staticmethod
    def _crosses(side: int, limit: int, resting_price: int) -> bool:
        return resting_price <= limit if side == Side.BUY else resting_price >= limit

    def _candidates(self, side: int, limit: int) -> list[RefOrder]:
        """Opposite orders this order could trade with, in priority order (best price, then time)."""
        opposite = [o for o in self.orders if o.side != side and self._crosses(side, limit, o.price)]
        if side == Side.BUY:
            return sorted(opposite, key=lambda o: (o.price, o.seq))
        return sorted(opposite, key=lambda o: (-o.price, o.seq))

    def submit(
        self,
        *,
        order_id: int,
        account: str,
        side: int,
        limit: int,
        qty: int,
        tif: int = TimeInForce.DAY,
        post_only: bool = False,
        market: bool = False,
        stp_mode: int = StpMode.CANCEL_RESTING,
        cum: int = 0,
        total_qty: int | None = None,
    ) -> RefResult:
        """Process an incoming order (``limit`` is the protection price for a market order)."""
        result = RefResult()
        candidates = self._candidates(side, limit)
        if post_only and candidates:
            result.accepted = False
            return result
        if tif == TimeInForce.FOK:
            available = 0
            for order in candidates:
                if order.account == account:
                    if stp_mode == StpMode.CANCEL_INCOMING:
                        break
                    continue
                available += order.leaves
            if available < qty:
                return result
        incoming = RefOrder(order_id, account, side, limit, total_qty or qty, cum, 0)
        stopped = False
        while incoming.leaves > 0 and not stopped:
            candidates = self._candidates(side, limit)
            if not candidates:
                break
            best = candidates[0]
            if best.account == account:
                if stp_mode == StpMode.CANCEL_INCOMING:
                    stopped = True
                    break
                self.orders.remove(best)
                result.self_trade_canceled.append(best.order_id)
                continue
            traded = min(best.leaves, incoming.leaves)
            best.cum += traded
            incoming.cum += traded
            result.trades.append((order_id, best.order_id, traded, best.price))
            if best.leaves == 0:
                self.orders.remove(best)
        rests = not market and tif in (TimeInForce.DAY, TimeInForce.GTC) and not stopped
        if incoming.leaves > 0 and rests:
            incoming.seq = self._next_seq()
            self.orders.append(incoming)
            result.rested = True
        return result

    def find(self, order_id: int) -> RefOrder | None:
        for order in self.orders:
            if order.order_id == order_id:
                return order
        return None

    def cancel(self, order_id: int) -> bool:
        order = self.find(order_id)
        if order is None:
            return False
        self.orders.remove(order)
        return True

    def replace(
        self, order_id: int, *, qty: int, price: int, stp_mode: int = StpMode.CANCEL_RESTING
    ) -> RefResult:
        """Cancel/replace with new total quantity ``qty`` (must exceed the filled quantity)."""
        order = self.find(order_id)
        if order is None or qty <= order.cum:
            return RefResult(accepted=False)
        if price == order.price and qty <= order.qty:
            order.qty = qty
            return RefResult(rested=True)
        self.orders.remove(order)
        return self.submit(
            order_id=order_id,
            account=order.account,
            side=order.side,
            limit=price,
            qty=qty - order.cum,
            stp_mode=stp_mode,
            cum=order.cum,
            total_qty=qty,
        )

    def depth(self, side: int) -> list[tuple[int, list[tuple[int, int]]]]:
        """Levels of one side, best first: ``(price, [(order_id, leaves), ...])`` in time priority."""
        own = [o for o in self.orders if o.side == side]
        prices = sorted({o.price for o in own}, reverse=side == Side.BUY)
        return [
            (p, [(o.order_id, o.leaves) for o in sorted(own, key=lambda o: o.seq) if o.price == p])
            for p in prices
        ]
