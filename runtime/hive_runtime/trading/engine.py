"""The trading engine: pre-trade risk, matching, positions and execution reports for every symbol.

Pure and deterministic: no I/O, no clock, no randomness. Each command carries its leader-assigned
``ts_us``; identifiers (order ids, exec ids) are counters in the state. The same commands in the
same order always produce the same reports and the same state.

Checks run in a fixed order (see ``docs/trading.md``) and the first failing control names the
reject reason. Cancel and cancel/replace live in :mod:`hive_runtime.trading.amend`,
administrative commands in :mod:`hive_runtime.trading.admin`; both use this class's public
helpers (``check_session``, ``check_limits``, ``report``, ``reject``, ``rest``, ...).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any, NamedTuple

from hive_runtime.trading.book import NO_LIMIT, MatchResult, Order, OrderBook
from hive_runtime.trading.commands import (
    Command,
    ExecutionReport,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    Outcome,
)
from hive_runtime.trading.constants import (
    BUY,
    FOK,
    IOC,
    LIMIT,
    MARKET,
    R_BREAKER,
    R_COLLAR,
    R_CREDIT,
    R_DUPLICATE,
    R_FOK,
    R_GROSS,
    R_HALTED,
    R_INVALID,
    R_KILL,
    R_MAX_NOTIONAL,
    R_MAX_QTY,
    R_NET,
    R_NO_LIQUIDITY,
    R_NO_REFERENCE,
    R_POST_ONLY,
    R_PRICE,
    R_QTY,
    R_RESTRICTED,
    R_STP,
    R_THROTTLE,
    R_UNKNOWN_ACCOUNT,
    R_UNKNOWN_SYMBOL,
    S_CANCELED,
    S_FILLED,
    S_NEW,
    S_PARTIAL,
    S_REJECTED,
    SELL,
    VALID_TIF,
    X_CANCELED,
    X_NEW,
    X_REJECTED,
    X_TRADE,
    new_tuple,
)
from hive_runtime.trading.state import NO_LIMITS, Account, Instrument, SymbolLimits


class ClientOrder(NamedTuple):
    """What a client order id was first used for: the log index, the order it created (0 if none)
    and the reason it was refused (0 if accepted). Lets the node answer a retried request."""

    log_index: int
    order_id: int
    reject_reason: int


def risk_defaults_hash(values: list[int]) -> str:
    """SHA-256 of the risk defaults ``[max order qty, max order notional, max gross, max net,
    credit limit]``, the value ``/status`` reports as ``riskDefaultsHash``."""
    return hashlib.sha256(repr([int(value) for value in values]).encode()).hexdigest()


class Engine:
    """All books, accounts and instruments; :meth:`execute` applies one decoded command."""

    def __init__(self) -> None:
        self.instruments: dict[str, Instrument] = {}
        self.books: dict[str, OrderBook] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}  # live resting orders by order id
        self.client_orders: dict[tuple[str, str], ClientOrder] = {}
        self.global_kill = False
        self.next_order_id = 1
        self.next_exec_id = 1
        self.alert_count = 0
        # Cluster-wide risk defaults (SetRiskDefaults): for accounts without limits of their own.
        self.risk_defaults: SymbolLimits = NO_LIMITS
        self.default_credit_limit = 0
        self.risk_defaults_hash: str | None = None  # SHA-256 of the defaults; None: never set
        self.index = 0  # log index of the command being applied (0 when used directly)
        from hive_runtime.trading import admin, amend

        self.handlers: dict[type[Any], Callable[[Any], Outcome]] = {
            NewOrderSingle: self.new_order,
            OrderCancelRequest: functools.partial(amend.cancel, self),
            OrderCancelReplaceRequest: functools.partial(amend.replace, self),
            **{cls: functools.partial(handler, self) for cls, handler in admin.HANDLERS.items()},
        }

    def execute(self, command: Command, index: int = 0) -> Outcome:
        self.index = index
        return self.handlers[type(command)](command)

    # ---- reports -----------------------------------------------------------------------------
    def report(  # noqa: PLR0917 - hot path, positional calls are cheaper
        self,
        order: Order,
        exec_type: str,
        ord_status: str,
        last_qty: int,
        last_px: int,
        reason: int,
        ts: int,
        orig_cl_ord_id: str = "",
    ) -> ExecutionReport:
        exec_id = self.next_exec_id
        self.next_exec_id = exec_id + 1
        return new_tuple(
            ExecutionReport,
            (
                exec_id,
                order.order_id,
                order.cl_ord_id,
                orig_cl_ord_id,
                order.account,
                order.symbol,
                order.side,
                exec_type,
                ord_status,
                order.qty,
                order.price,
                last_qty,
                last_px,
                order.leaves,
                order.cum,
                reason,
                ts,
            ),
        )

    def reject(self, cmd: Any, reason: int, orig_cl_ord_id: str = "", order_id: int = 0) -> Outcome:
        exec_id = self.next_exec_id
        self.next_exec_id = exec_id + 1
        report = ExecutionReport(
            exec_id,
            order_id,
            cmd.cl_ord_id,
            orig_cl_ord_id,
            cmd.account,
            cmd.symbol,
            getattr(cmd, "side", 0),
            X_REJECTED,
            S_REJECTED,
            getattr(cmd, "qty", 0),
            getattr(cmd, "price", 0),
            0,
            0,
            0,
            0,
            reason,
            cmd.ts_us,
        )
        return Outcome(reason, [report])

    def register(self, account: str, cl_ord_id: str, order_id: int, reason: int) -> None:
        self.client_orders[(account, cl_ord_id)] = new_tuple(ClientOrder, (self.index, order_id, reason))

    # ---- shared checks -----------------------------------------------------------------------
    def check_session(self, acct: Account, inst: Instrument | None, ts: int) -> int:
        """Throttle, kill switches, symbol state: 0 if the order may proceed, else the reason."""
        if acct.max_msgs and acct.throttled(ts):
            return R_THROTTLE
        if self.global_kill or acct.killed:
            return R_KILL
        if inst is None:
            return R_UNKNOWN_SYMBOL
        if inst.restricted:
            return R_RESTRICTED
        if inst.halted:
            return R_HALTED
        return 0

    def check_limits(  # noqa: PLR0917 - hot path, positional calls are cheaper
        self,
        acct: Account,
        inst: Instrument,
        side: int,
        price: int,
        qty: int,
        added_notional: int,
        is_limit: bool,
    ) -> int:
        """Order size, collar, position and credit controls for ``qty`` more at ``price``."""
        symbol = inst.symbol
        limits = acct.limits.get(symbol, acct.default_limits)
        if limits is NO_LIMITS:  # no limits of its own: the cluster's defaults
            limits = self.risk_defaults
        if limits.max_order_qty and qty > limits.max_order_qty:
            return R_MAX_QTY
        if limits.max_order_notional and price * qty > limits.max_order_notional:
            return R_MAX_NOTIONAL
        ref = inst.reference_price
        if is_limit and inst.collar_bps and ref and abs(price - ref) * 10000 > inst.collar_bps * ref:
            return R_COLLAR
        if limits.max_gross_position or limits.max_net_position:
            position = acct.positions.get(symbol)
            pos = position.qty if position is not None else 0
            exposure = acct.exposure.get(symbol)
            open_buy, open_sell = (exposure[0], exposure[1]) if exposure is not None else (0, 0)
            if (
                limits.max_gross_position
                and abs(pos) + open_buy + open_sell + qty > limits.max_gross_position
            ):
                return R_GROSS
            if limits.max_net_position:
                worst = pos + open_buy + qty if side == BUY else open_sell + qty - pos
                if worst > limits.max_net_position:
                    return R_NET
        credit_limit = acct.credit_limit or self.default_credit_limit
        if credit_limit and acct.open_notional + added_notional > credit_limit:
            return R_CREDIT
        return 0

    def set_risk_defaults(self, limits: SymbolLimits, credit_limit: int) -> None:
        """Replace the cluster-wide defaults (all zero: none); the hash is what ``/status`` shows."""
        self.risk_defaults = limits if any(limits.as_list()) else NO_LIMITS
        self.default_credit_limit = credit_limit
        self.risk_defaults_hash = risk_defaults_hash([*limits.as_list(), credit_limit])

    @staticmethod
    def valid_price(inst: Instrument, price: int) -> bool:
        return price > 0 and price % inst.tick_size == 0

    # ---- NewOrderSingle ----------------------------------------------------------------------
    def new_order(self, cmd: NewOrderSingle) -> Outcome:
        account = cmd.account
        acct = self.accounts.get(account)
        key = (account, cmd.cl_ord_id)
        if key in self.client_orders:
            original = self.client_orders[key]
            return self.reject(cmd, R_DUPLICATE, order_id=original.order_id)
        if acct is None:
            self.register(account, cmd.cl_ord_id, 0, R_UNKNOWN_ACCOUNT)
            return self.reject(cmd, R_UNKNOWN_ACCOUNT)
        ts = cmd.ts_us
        symbol = cmd.symbol
        inst = self.instruments.get(symbol)
        reason = self.check_session(acct, inst, ts)
        if reason == 0 and inst is not None:
            reason = self._check_new(cmd, acct, inst)
        if reason:
            self.register(account, cmd.cl_ord_id, 0, reason)
            return self.reject(cmd, reason)
        assert inst is not None
        side = cmd.side
        if cmd.ord_type == MARKET:
            limit = self._protection_price(inst, side)
            price = 0
        else:
            limit = price = cmd.price
        order_id = self.next_order_id
        self.next_order_id = order_id + 1
        self.client_orders[key] = new_tuple(ClientOrder, (self.index, order_id, 0))
        order = Order(order_id, account, cmd.cl_ord_id, symbol, side, price, cmd.qty, cmd.qty, 0)
        book = self.books[symbol]
        reports = [self.report(order, X_NEW, S_NEW, 0, 0, 0, ts)]
        if not book.crosses(side, limit):
            if cmd.ord_type == MARKET or cmd.tif in (IOC, FOK):
                self._finish(
                    order,
                    R_NO_LIQUIDITY if cmd.ord_type == MARKET else 0,
                    reports,
                    ts,
                    fok_fail=cmd.tif == FOK,
                )
                return Outcome(0, reports)
            self.rest(book, acct, order)
            return Outcome(0, reports)
        self.execute_order(
            book,
            inst,
            acct,
            order,
            limit,
            reports,
            ts,
            rest=cmd.ord_type == LIMIT and cmd.tif < IOC,
            fok=cmd.tif == FOK,
        )
        return Outcome(0, reports)

    def _check_new(self, cmd: NewOrderSingle, acct: Account, inst: Instrument) -> int:
        side, qty = cmd.side, cmd.qty
        if side not in (BUY, SELL):
            return R_INVALID
        if qty <= 0 or qty % inst.lot_size:
            return R_QTY
        if cmd.tif not in VALID_TIF:
            return R_INVALID
        if cmd.ord_type == LIMIT:
            if not self.valid_price(inst, cmd.price):
                return R_PRICE
            price = cmd.price
            if cmd.post_only and self.books[inst.symbol].crosses(side, price):
                return R_POST_ONLY
        elif cmd.ord_type == MARKET:
            if cmd.price != 0 or cmd.post_only:
                return R_PRICE
            if not inst.reference_price:
                return R_NO_REFERENCE
            price = self._protection_price(inst, side)
        else:
            return R_INVALID
        return self.check_limits(acct, inst, side, price, qty, price * qty, cmd.ord_type == LIMIT)

    @staticmethod
    def _protection_price(inst: Instrument, side: int) -> int:
        """Worst price a market order may trade at: reference +- protection band, on the tick grid."""
        ref, tick = inst.reference_price, inst.tick_size
        width = ref * inst.market_protection_bps // 10000
        if side == BUY:
            return (ref + width) // tick * tick
        return max(tick, -((-(ref - width)) // tick) * tick)

    # ---- execution ---------------------------------------------------------------------------
    def _band(self, inst: Instrument, ts: int) -> tuple[int, int, int]:
        if not inst.band_bps or not inst.band_window_us:
            return -NO_LIMIT, NO_LIMIT, NO_LIMIT
        width = inst.reference_price * inst.band_bps // 10000
        window = inst.window
        window.expire(ts - inst.band_window_us)
        if not window.mins:
            return -NO_LIMIT, NO_LIMIT, width
        return window.maxs[0][1] - width, window.mins[0][1] + width, width

    def execute_order(  # noqa: PLR0917 - hot path, positional calls are cheaper
        self,
        book: OrderBook,
        inst: Instrument,
        acct: Account,
        order: Order,
        limit: int,
        reports: list[ExecutionReport],
        ts: int,
        *,
        rest: bool,
        fok: bool,
    ) -> None:
        band_lo, band_hi, width = self._band(inst, ts)
        if fok and not book.fillable(
            order.side, limit, band_lo, band_hi, order.account, acct.stp_mode, order.leaves
        ):
            self._finish(order, R_FOK, reports, ts, fok_fail=True)
            return
        result = book.match(order, limit, band_lo, band_hi, width, acct.stp_mode)
        self._settle(inst, order, result, reports, ts)
        if result.band_stop:
            inst.halted = True
        if not order.leaves:
            return
        if result.band_stop:
            self._finish(order, R_BREAKER, reports, ts)
        elif result.stp_incoming:
            self._finish(order, R_STP, reports, ts)
        elif rest:
            self.rest(book, acct, order)
        else:
            self._finish(order, R_NO_LIQUIDITY if order.price == 0 else 0, reports, ts)

    def _settle(
        self, inst: Instrument, taker: Order, result: MatchResult, reports: list[ExecutionReport], ts: int
    ) -> None:
        accounts = self.accounts
        orders = self.orders
        symbol = taker.symbol
        for maker in result.self_trade_canceled:
            self.unexpose(accounts[maker.account], maker, maker.price, _leaves_before_cancel(maker))
            del orders[maker.order_id]
            reports.append(self.report(maker, X_CANCELED, S_CANCELED, 0, 0, R_STP, ts))
        if not result.fills:
            return
        taker_position = accounts[taker.account].position(symbol)
        buy = taker.side == BUY
        taker_qty = taker.qty
        cum = taker.cum - sum(f[1] for f in result.fills)
        window_push = inst.window.push if inst.band_bps else None
        append = reports.append
        exec_id = self.next_exec_id
        # Reports are built inline (not via _report) because this loop runs once per fill.
        for maker, qty, price in result.fills:
            maker_acct = accounts[maker.account]
            maker_acct.open_notional -= price * qty
            exposure = maker_acct.exposure[symbol]
            exposure[0 if maker.side == BUY else 1] -= qty
            maker_position = maker_acct.positions.get(symbol)
            if maker_position is None:
                maker_position = maker_acct.position(symbol)
            maker_position.apply_fill(-qty if buy else qty, price)
            taker_position.apply_fill(qty if buy else -qty, price)
            cum += qty
            append(
                new_tuple(
                    ExecutionReport,
                    (
                        exec_id,
                        taker.order_id,
                        taker.cl_ord_id,
                        "",
                        taker.account,
                        symbol,
                        taker.side,
                        X_TRADE,
                        S_FILLED if cum == taker_qty else S_PARTIAL,
                        taker_qty,
                        taker.price,
                        qty,
                        price,
                        taker_qty - cum,
                        cum,
                        0,
                        ts,
                    ),
                )
            )
            maker_cum = maker.cum
            append(
                new_tuple(
                    ExecutionReport,
                    (
                        exec_id + 1,
                        maker.order_id,
                        maker.cl_ord_id,
                        "",
                        maker.account,
                        symbol,
                        maker.side,
                        X_TRADE,
                        S_FILLED if maker_cum == maker.qty else S_PARTIAL,
                        maker.qty,
                        maker.price,
                        qty,
                        price,
                        maker.leaves,
                        maker_cum,
                        0,
                        ts,
                    ),
                )
            )
            exec_id += 2
            if not maker.leaves:
                del orders[maker.order_id]
            if window_push is not None:
                window_push(ts, price)
            inst.last_price = price
        self.next_exec_id = exec_id

    def _finish(
        self, order: Order, reason: int, reports: list[ExecutionReport], ts: int, fok_fail: bool = False
    ) -> None:
        """Cancel what is left of a non-resting order (IOC/FOK/market remainder, STP, breaker)."""
        if fok_fail and not reason:
            reason = R_FOK
        order.leaves = 0
        reports.append(self.report(order, X_CANCELED, S_CANCELED, 0, 0, reason, ts))

    def rest(self, book: OrderBook, acct: Account, order: Order) -> None:
        book.add(order)
        self.orders[order.order_id] = order
        acct.open_notional += order.price * order.leaves
        exposure = acct.exposure.get(order.symbol)
        if exposure is None:
            exposure = acct.exposure[order.symbol] = [0, 0]
        exposure[0 if order.side == BUY else 1] += order.leaves

    @staticmethod
    def unexpose(acct: Account, order: Order, price: int, leaves: int) -> None:
        acct.open_notional -= price * leaves
        acct.exposure[order.symbol][0 if order.side == BUY else 1] -= leaves

    def cancel_resting(self, order: Order, reason: int, ts: int, orig_cl_ord_id: str = "") -> ExecutionReport:
        """Take a live order out of its book and report it canceled (cancel request, kill switch)."""
        leaves = order.leaves
        self.books[order.symbol].remove(order)
        self.unexpose(self.accounts[order.account], order, order.price, leaves)
        del self.orders[order.order_id]
        return self.report(order, X_CANCELED, S_CANCELED, 0, 0, reason, ts, orig_cl_ord_id)


def _leaves_before_cancel(order: Order) -> int:
    """Leaves of an order canceled by self-trade prevention (the book zeroed them; qty - cum)."""
    return order.qty - order.cum
