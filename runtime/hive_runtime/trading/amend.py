"""Order amendments: OrderCancelRequest and OrderCancelReplaceRequest.

Replace keeps time priority only when the price is unchanged and the quantity is not increased
(the order is amended in place); any other change re-queues the order at the back of its new
level, and it trades first if it now crosses. The order keeps its order id; the new ClOrdID is
registered like any other, so retries of a replace are caught as duplicates.
"""

from __future__ import annotations

from hive_runtime.trading.book import Order
from hive_runtime.trading.commands import OrderCancelReplaceRequest, OrderCancelRequest, Outcome
from hive_runtime.trading.constants import (
    R_DUPLICATE,
    R_MAX_NOTIONAL,
    R_MAX_QTY,
    R_PRICE,
    R_QTY,
    R_SIDE_CHANGE,
    R_THROTTLE,
    R_UNKNOWN_ACCOUNT,
    R_UNKNOWN_ORDER,
    S_FILLED,
    S_NEW,
    S_PARTIAL,
    X_REPLACED,
)
from hive_runtime.trading.engine import Engine
from hive_runtime.trading.state import NO_LIMITS, Account, Instrument


def lookup(engine: Engine, account: str, orig_cl_ord_id: str, symbol: str) -> Order | None:
    entry = engine.client_orders.get((account, orig_cl_ord_id))
    if entry is None:
        return None
    order = engine.orders.get(entry.order_id)
    if order is None or order.symbol != symbol or order.account != account:
        return None
    return order


def cancel(engine: Engine, cmd: OrderCancelRequest) -> Outcome:
    key = (cmd.account, cmd.cl_ord_id)
    if key in engine.client_orders:
        return engine.reject(cmd, R_DUPLICATE, cmd.orig_cl_ord_id, engine.client_orders[key].order_id)
    acct = engine.accounts.get(cmd.account)
    if acct is None:
        reason = R_UNKNOWN_ACCOUNT
    elif acct.max_msgs and acct.throttled(cmd.ts_us):
        reason = R_THROTTLE
    else:
        order = lookup(engine, cmd.account, cmd.orig_cl_ord_id, cmd.symbol)
        if order is None:
            reason = R_UNKNOWN_ORDER
        else:
            engine.register(cmd.account, cmd.cl_ord_id, order.order_id, 0)
            order.cl_ord_id = cmd.cl_ord_id  # FIX: a canceled order carries the cancel's ClOrdID
            report = engine.cancel_resting(order, 0, cmd.ts_us, cmd.orig_cl_ord_id)
            return Outcome(0, [report])
    engine.register(cmd.account, cmd.cl_ord_id, 0, reason)
    return engine.reject(cmd, reason, cmd.orig_cl_ord_id)


def replace(engine: Engine, cmd: OrderCancelReplaceRequest) -> Outcome:
    key = (cmd.account, cmd.cl_ord_id)
    if key in engine.client_orders:
        return engine.reject(cmd, R_DUPLICATE, cmd.orig_cl_ord_id, engine.client_orders[key].order_id)
    acct = engine.accounts.get(cmd.account)
    if acct is None:
        engine.register(cmd.account, cmd.cl_ord_id, 0, R_UNKNOWN_ACCOUNT)
        return engine.reject(cmd, R_UNKNOWN_ACCOUNT, cmd.orig_cl_ord_id)
    inst = engine.instruments.get(cmd.symbol)
    reason = engine.check_session(acct, inst, cmd.ts_us)
    order = lookup(engine, cmd.account, cmd.orig_cl_ord_id, cmd.symbol)
    if not reason and order is None:
        reason = R_UNKNOWN_ORDER
    if not reason and inst is not None and order is not None:
        reason = _check_replace(engine, cmd, acct, inst, order)
    if reason or inst is None or order is None:
        engine.register(cmd.account, cmd.cl_ord_id, 0, reason)
        return engine.reject(cmd, reason, cmd.orig_cl_ord_id, order.order_id if order is not None else 0)
    engine.register(cmd.account, cmd.cl_ord_id, order.order_id, 0)
    ts = cmd.ts_us
    book = engine.books[cmd.symbol]
    new_leaves = cmd.qty - order.cum
    if cmd.price == order.price and cmd.qty <= order.qty:
        # Same price, quantity not increased: amend in place and keep time priority.
        engine.unexpose(acct, order, order.price, order.leaves - new_leaves)
        book.reduce(order, new_leaves)
        order.qty = cmd.qty
        order.cl_ord_id = cmd.cl_ord_id
        report = engine.report(order, X_REPLACED, _status(order), 0, 0, 0, ts, cmd.orig_cl_ord_id)
        return Outcome(0, [report])
    leaves = order.leaves
    book.remove(order)
    engine.unexpose(acct, order, order.price, leaves)
    del engine.orders[order.order_id]
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
    report = engine.report(replacement, X_REPLACED, _status(replacement), 0, 0, 0, ts, cmd.orig_cl_ord_id)
    reports = [report]
    if book.crosses(replacement.side, replacement.price):
        engine.execute_order(
            book, inst, acct, replacement, replacement.price, reports, ts, rest=True, fok=False
        )
    else:
        engine.rest(book, acct, replacement)
    return Outcome(0, reports)


def _check_replace(
    engine: Engine, cmd: OrderCancelReplaceRequest, acct: Account, inst: Instrument, order: Order
) -> int:
    if cmd.side != order.side:
        return R_SIDE_CHANGE
    if cmd.qty <= order.cum or cmd.qty % inst.lot_size:
        return R_QTY
    if not engine.valid_price(inst, cmd.price):
        return R_PRICE
    new_leaves = cmd.qty - order.cum
    added_qty = max(0, new_leaves - order.leaves)
    added_notional = cmd.price * new_leaves - order.price * order.leaves
    limits = acct.limits.get(inst.symbol, acct.default_limits)
    if limits is NO_LIMITS:  # no limits of its own: the cluster's defaults
        limits = engine.risk_defaults
    if limits.max_order_qty and cmd.qty > limits.max_order_qty:
        return R_MAX_QTY
    if limits.max_order_notional and cmd.price * cmd.qty > limits.max_order_notional:
        return R_MAX_NOTIONAL
    return engine.check_limits(acct, inst, cmd.side, cmd.price, added_qty, added_notional, True)


def _status(order: Order) -> str:
    if order.cum == 0:
        return S_NEW
    return S_FILLED if order.cum >= order.qty else S_PARTIAL
