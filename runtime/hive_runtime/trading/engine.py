"""The trading engine: pre-trade risk, matching, positions and execution reports for every symbol.

Pure and deterministic: no I/O, no clock, no randomness. Each command carries its leader-assigned
``ts_us``; identifiers (order ids, exec ids) are counters in the state. The same commands in the
same order always produce the same reports and the same state.

Checks run in a fixed order (see ``docs/trading.md``) and the first failing control names the
reject reason. Administrative commands live in :mod:`hive_runtime.trading.admin`.
"""

from __future__ import annotations

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
from hive_runtime.trading.state import Account, Instrument
from hive_runtime.trading.types import ExecType, OrdStatus, RejectReason, TimeInForce

BUY = 1
SELL = 2
MARKET = 1
LIMIT = 2
IOC = int(TimeInForce.IOC)
FOK = int(TimeInForce.FOK)
VALID_TIF = frozenset(int(t) for t in TimeInForce)

X_NEW = ExecType.NEW.value
X_CANCELED = ExecType.CANCELED.value
X_REPLACED = ExecType.REPLACED.value
X_REJECTED = ExecType.REJECTED.value
X_TRADE = ExecType.TRADE.value
S_NEW = OrdStatus.NEW.value
S_PARTIAL = OrdStatus.PARTIALLY_FILLED.value
S_FILLED = OrdStatus.FILLED.value
S_CANCELED = OrdStatus.CANCELED.value
S_REJECTED = OrdStatus.REJECTED.value

R = RejectReason
_new_tuple = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)
R_UNKNOWN_SYMBOL = int(R.UNKNOWN_SYMBOL)
R_UNKNOWN_ACCOUNT = int(R.UNKNOWN_ACCOUNT)
R_UNKNOWN_ORDER = int(R.UNKNOWN_ORDER)
R_QTY = int(R.INVALID_QUANTITY)
R_PRICE = int(R.INVALID_PRICE)
R_MAX_QTY = int(R.MAX_ORDER_QUANTITY)
R_MAX_NOTIONAL = int(R.MAX_ORDER_NOTIONAL)
R_COLLAR = int(R.PRICE_COLLAR)
R_GROSS = int(R.GROSS_POSITION_LIMIT)
R_NET = int(R.NET_POSITION_LIMIT)
R_CREDIT = int(R.CREDIT_LIMIT)
R_THROTTLE = int(R.THROTTLE)
R_DUPLICATE = int(R.DUPLICATE_CL_ORD_ID)
R_RESTRICTED = int(R.RESTRICTED_SYMBOL)
R_KILL = int(R.KILL_SWITCH)
R_HALTED = int(R.SYMBOL_HALTED)
R_BREAKER = int(R.CIRCUIT_BREAKER)
R_POST_ONLY = int(R.POST_ONLY_WOULD_CROSS)
R_FOK = int(R.FOK_NOT_FILLABLE)
R_STP = int(R.SELF_TRADE_PREVENTED)
R_NO_LIQUIDITY = int(R.NO_LIQUIDITY)
R_SIDE_CHANGE = int(R.REPLACE_SIDE_CHANGE)
R_NO_REFERENCE = int(R.NO_REFERENCE_PRICE)


class ClientOrder(NamedTuple):
    """What a client order id was first used for: the log index, the order it created (0 if none)
    and the reason it was refused (0 if accepted). Lets the node answer a retried request."""

    log_index: int
    order_id: int
    reject_reason: int


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
        self.index = 0  # log index of the command being applied (0 when used directly)
        from hive_runtime.trading import admin

        self._handlers: dict[type[Any], Callable[[Any], Outcome]] = {
            NewOrderSingle: self.new_order,
            OrderCancelRequest: self.cancel,
            OrderCancelReplaceRequest: self.replace,
            **{cls: admin.bind(handler, self) for cls, handler in admin.HANDLERS.items()},
        }

    def execute(self, command: Command, index: int = 0) -> Outcome:
        self.index = index
        return self._handlers[type(command)](command)

    # ---- reports -----------------------------------------------------------------------------
    def _report(  # noqa: PLR0917 - hot path, positional calls are cheaper
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
        return _new_tuple(
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

    def _reject(self, cmd: Any, reason: int, orig_cl_ord_id: str = "", order_id: int = 0) -> Outcome:
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

    def _register(self, account: str, cl_ord_id: str, order_id: int, reason: int) -> None:
        self.client_orders[(account, cl_ord_id)] = _new_tuple(ClientOrder, (self.index, order_id, reason))

    # ---- shared checks -----------------------------------------------------------------------
    def _check_session(self, acct: Account, inst: Instrument | None, ts: int) -> int:
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

    def _check_limits(  # noqa: PLR0917 - hot path, positional calls are cheaper
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
        if acct.credit_limit and acct.open_notional + added_notional > acct.credit_limit:
            return R_CREDIT
        return 0

    @staticmethod
    def _valid_price(inst: Instrument, price: int) -> bool:
        return price > 0 and price % inst.tick_size == 0

    # ---- NewOrderSingle ----------------------------------------------------------------------
    def new_order(self, cmd: NewOrderSingle) -> Outcome:
        account = cmd.account
        acct = self.accounts.get(account)
        key = (account, cmd.cl_ord_id)
        if key in self.client_orders:
            original = self.client_orders[key]
            return self._reject(cmd, R_DUPLICATE, order_id=original.order_id)
        if acct is None:
            self._register(account, cmd.cl_ord_id, 0, R_UNKNOWN_ACCOUNT)
            return self._reject(cmd, R_UNKNOWN_ACCOUNT)
        ts = cmd.ts_us
        symbol = cmd.symbol
        inst = self.instruments.get(symbol)
        reason = self._check_session(acct, inst, ts)
        if reason == 0 and inst is not None:
            reason = self._check_new(cmd, acct, inst)
        if reason:
            self._register(account, cmd.cl_ord_id, 0, reason)
            return self._reject(cmd, reason)
        assert inst is not None
        side = cmd.side
        if cmd.ord_type == MARKET:
            limit = self._protection_price(inst, side)
            price = 0
        else:
            limit = price = cmd.price
        order_id = self.next_order_id
        self.next_order_id = order_id + 1
        self.client_orders[key] = _new_tuple(ClientOrder, (self.index, order_id, 0))
        order = Order(order_id, account, cmd.cl_ord_id, symbol, side, price, cmd.qty, cmd.qty, 0)
        book = self.books[symbol]
        reports = [self._report(order, X_NEW, S_NEW, 0, 0, 0, ts)]
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
            self._rest(book, acct, order)
            return Outcome(0, reports)
        self._execute(
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
            return int(R.INVALID_ARGUMENT)
        if qty <= 0 or qty % inst.lot_size:
            return R_QTY
        if cmd.tif not in VALID_TIF:
            return int(R.INVALID_ARGUMENT)
        if cmd.ord_type == LIMIT:
            if not self._valid_price(inst, cmd.price):
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
            return int(R.INVALID_ARGUMENT)
        return self._check_limits(acct, inst, side, price, qty, price * qty, cmd.ord_type == LIMIT)

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

    def _execute(  # noqa: PLR0917 - hot path, positional calls are cheaper
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
            self._rest(book, acct, order)
        else:
            self._finish(order, R_NO_LIQUIDITY if order.price == 0 else 0, reports, ts)

    def _settle(
        self, inst: Instrument, taker: Order, result: MatchResult, reports: list[ExecutionReport], ts: int
    ) -> None:
        accounts = self.accounts
        orders = self.orders
        symbol = taker.symbol
        for maker in result.self_trade_canceled:
            self._unexpose(accounts[maker.account], maker, maker.price, _leaves_before_cancel(maker))
            del orders[maker.order_id]
            reports.append(self._report(maker, X_CANCELED, S_CANCELED, 0, 0, R_STP, ts))
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
                _new_tuple(
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
                _new_tuple(
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
        reports.append(self._report(order, X_CANCELED, S_CANCELED, 0, 0, reason, ts))

    def _rest(self, book: OrderBook, acct: Account, order: Order) -> None:
        book.add(order)
        self.orders[order.order_id] = order
        acct.open_notional += order.price * order.leaves
        exposure = acct.exposure.get(order.symbol)
        if exposure is None:
            exposure = acct.exposure[order.symbol] = [0, 0]
        exposure[0 if order.side == BUY else 1] += order.leaves

    @staticmethod
    def _unexpose(acct: Account, order: Order, price: int, leaves: int) -> None:
        acct.open_notional -= price * leaves
        acct.exposure[order.symbol][0 if order.side == BUY else 1] -= leaves

    def cancel_resting(self, order: Order, reason: int, ts: int, orig_cl_ord_id: str = "") -> ExecutionReport:
        """Take a live order out of its book and report it canceled (cancel request, kill switch)."""
        leaves = order.leaves
        self.books[order.symbol].remove(order)
        self._unexpose(self.accounts[order.account], order, order.price, leaves)
        del self.orders[order.order_id]
        return self._report(order, X_CANCELED, S_CANCELED, 0, 0, reason, ts, orig_cl_ord_id)

    # ---- OrderCancelRequest / OrderCancelReplaceRequest ---------------------------------------
    def _lookup(self, account: str, orig_cl_ord_id: str, symbol: str) -> Order | None:
        entry = self.client_orders.get((account, orig_cl_ord_id))
        if entry is None:
            return None
        order = self.orders.get(entry.order_id)
        if order is None or order.symbol != symbol or order.account != account:
            return None
        return order

    def cancel(self, cmd: OrderCancelRequest) -> Outcome:
        key = (cmd.account, cmd.cl_ord_id)
        if key in self.client_orders:
            return self._reject(cmd, R_DUPLICATE, cmd.orig_cl_ord_id, self.client_orders[key].order_id)
        acct = self.accounts.get(cmd.account)
        if acct is None:
            reason = R_UNKNOWN_ACCOUNT
        elif acct.max_msgs and acct.throttled(cmd.ts_us):
            reason = R_THROTTLE
        else:
            order = self._lookup(cmd.account, cmd.orig_cl_ord_id, cmd.symbol)
            if order is None:
                reason = R_UNKNOWN_ORDER
            else:
                self._register(cmd.account, cmd.cl_ord_id, order.order_id, 0)
                order.cl_ord_id = cmd.cl_ord_id  # FIX: a canceled order carries the cancel's ClOrdID
                report = self.cancel_resting(order, 0, cmd.ts_us, cmd.orig_cl_ord_id)
                return Outcome(0, [report])
        self._register(cmd.account, cmd.cl_ord_id, 0, reason)
        return self._reject(cmd, reason, cmd.orig_cl_ord_id)

    def replace(self, cmd: OrderCancelReplaceRequest) -> Outcome:
        key = (cmd.account, cmd.cl_ord_id)
        if key in self.client_orders:
            return self._reject(cmd, R_DUPLICATE, cmd.orig_cl_ord_id, self.client_orders[key].order_id)
        acct = self.accounts.get(cmd.account)
        if acct is None:
            self._register(cmd.account, cmd.cl_ord_id, 0, R_UNKNOWN_ACCOUNT)
            return self._reject(cmd, R_UNKNOWN_ACCOUNT, cmd.orig_cl_ord_id)
        inst = self.instruments.get(cmd.symbol)
        reason = self._check_session(acct, inst, cmd.ts_us)
        order = self._lookup(cmd.account, cmd.orig_cl_ord_id, cmd.symbol)
        if not reason and order is None:
            reason = R_UNKNOWN_ORDER
        if not reason and inst is not None and order is not None:
            reason = self._check_replace(cmd, acct, inst, order)
        if reason or inst is None or order is None:
            self._register(cmd.account, cmd.cl_ord_id, 0, reason)
            return self._reject(cmd, reason, cmd.orig_cl_ord_id, order.order_id if order is not None else 0)
        self._register(cmd.account, cmd.cl_ord_id, order.order_id, 0)
        ts = cmd.ts_us
        book = self.books[cmd.symbol]
        new_leaves = cmd.qty - order.cum
        if cmd.price == order.price and cmd.qty <= order.qty:
            # Same price, quantity not increased: amend in place and keep time priority.
            self._unexpose(acct, order, order.price, order.leaves - new_leaves)
            book.reduce(order, new_leaves)
            order.qty = cmd.qty
            order.cl_ord_id = cmd.cl_ord_id
            report = self._report(order, X_REPLACED, _status(order), 0, 0, 0, ts, cmd.orig_cl_ord_id)
            return Outcome(0, [report])
        leaves = order.leaves
        book.remove(order)
        self._unexpose(acct, order, order.price, leaves)
        del self.orders[order.order_id]
        replacement = Order(
            order.order_id,
            order.account,
            cmd.cl_ord_id,
            order.symbol,
            order.side,
            cmd.price,
            cmd.qty,
            new_leaves,
            order.cum,
        )
        report = self._report(replacement, X_REPLACED, _status(replacement), 0, 0, 0, ts, cmd.orig_cl_ord_id)
        reports = [report]
        if book.crosses(replacement.side, replacement.price):
            self._execute(book, inst, acct, replacement, replacement.price, reports, ts, rest=True, fok=False)
        else:
            self._rest(book, acct, replacement)
        return Outcome(0, reports)

    def _check_replace(
        self, cmd: OrderCancelReplaceRequest, acct: Account, inst: Instrument, order: Order
    ) -> int:
        if cmd.side != order.side:
            return R_SIDE_CHANGE
        if cmd.qty <= order.cum or cmd.qty % inst.lot_size:
            return R_QTY
        if not self._valid_price(inst, cmd.price):
            return R_PRICE
        new_leaves = cmd.qty - order.cum
        added_qty = max(0, new_leaves - order.leaves)
        added_notional = cmd.price * new_leaves - order.price * order.leaves
        limits = acct.limits.get(inst.symbol, acct.default_limits)
        if limits.max_order_qty and cmd.qty > limits.max_order_qty:
            return R_MAX_QTY
        if limits.max_order_notional and cmd.price * cmd.qty > limits.max_order_notional:
            return R_MAX_NOTIONAL
        return self._check_limits(acct, inst, cmd.side, cmd.price, added_qty, added_notional, True)


def _status(order: Order) -> str:
    if order.cum == 0:
        return S_NEW
    return S_FILLED if order.cum >= order.qty else S_PARTIAL


def _leaves_before_cancel(order: Order) -> int:
    """Leaves of an order canceled by self-trade prevention (the book zeroed them; qty - cum)."""
    return order.qty - order.cum
