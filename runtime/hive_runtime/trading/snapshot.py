"""Canonical snapshot of the engine: one msgpack document with every collection in sorted order.

Two engines that went through the same commands serialise to the same bytes, whatever the order
in which their dictionaries were filled, so ``SHA-256(snapshot)`` is a state digest that replicas
(and a canary on a newer version) can compare. Resting orders are stored level by level, best
price first and in time priority, which is all the book needs to be rebuilt exactly.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from hive_runtime.trading.book import BUY, Order, OrderBook
from hive_runtime.trading.engine import ClientOrder, Engine
from hive_runtime.trading.state import NO_LIMITS, Account, Instrument, Position, SymbolLimits

ENGINE_STATE_VERSION = 1


def _order(order: Order) -> list[Any]:
    return [
        order.order_id,
        order.account,
        order.cl_ord_id,
        order.side,
        order.price,
        order.qty,
        order.leaves,
        order.cum,
    ]


def _instrument(inst: Instrument) -> list[Any]:
    return [
        inst.symbol,
        inst.tick_size,
        inst.lot_size,
        inst.reference_price,
        inst.collar_bps,
        inst.band_bps,
        inst.band_window_us,
        inst.market_protection_bps,
        inst.halted,
        inst.restricted,
        inst.last_price,
        [list(x) for x in inst.window.mins],
        [list(x) for x in inst.window.maxs],
    ]


def _account(acct: Account) -> list[Any]:
    return [
        acct.account,
        acct.stp_mode,
        acct.credit_limit,
        acct.max_msgs,
        acct.throttle_window_us,
        acct.killed,
        list(acct.msg_times),
        acct.open_notional,
        acct.default_limits.as_list(),
        [[symbol, limits.as_list()] for symbol, limits in sorted(acct.limits.items())],
        [[symbol, e[0], e[1]] for symbol, e in sorted(acct.exposure.items())],
        [[symbol, p.qty, p.cost, p.realized] for symbol, p in sorted(acct.positions.items())],
    ]


def engine_state(engine: Engine) -> list[Any]:
    books = []
    for symbol, book in sorted(engine.books.items()):
        sides = [
            [[price, [_order(o) for o in orders]] for price, orders in book.levels(side)] for side in (1, 2)
        ]
        books.append([symbol, *sides])
    state = [
        ENGINE_STATE_VERSION,
        [engine.next_order_id, engine.next_exec_id, engine.global_kill, engine.alert_count],
        [_instrument(inst) for _, inst in sorted(engine.instruments.items())],
        [_account(acct) for _, acct in sorted(engine.accounts.items())],
        books,
        [
            [a, c, e.log_index, e.order_id, e.reject_reason]
            for (a, c), e in sorted(engine.client_orders.items())
        ],
    ]
    if engine.risk_defaults_hash is not None:
        # Only once set: an engine that never met SetRiskDefaults serialises exactly as a build
        # without it does, so replicas of both builds keep equal digests (see node.versions).
        state.append([*engine.risk_defaults.as_list(), engine.default_credit_limit])
    return state


def restore_engine(state: list[Any] | tuple[Any, ...]) -> Engine:
    version, counters, instruments, accounts, books, client_orders, *risk_defaults = state
    if version != ENGINE_STATE_VERSION:
        raise ValueError(f"unsupported engine state version {version}")
    engine = Engine()
    engine.next_order_id, engine.next_exec_id, engine.global_kill, engine.alert_count = counters
    if risk_defaults:
        *limits, credit_limit = risk_defaults[0]
        engine.set_risk_defaults(SymbolLimits(*limits), credit_limit)
    for row in instruments:
        inst = Instrument(row[0], row[1], row[2], row[3])
        (inst.collar_bps, inst.band_bps, inst.band_window_us, inst.market_protection_bps) = row[4:8]
        inst.halted, inst.restricted, inst.last_price = row[8:11]
        inst.window.mins = deque((ts, price) for ts, price in row[11])
        inst.window.maxs = deque((ts, price) for ts, price in row[12])
        engine.instruments[inst.symbol] = inst
        engine.books[inst.symbol] = OrderBook(inst.symbol)
    for row in accounts:
        acct = Account(row[0])
        acct.stp_mode, acct.credit_limit, acct.max_msgs, acct.throttle_window_us, acct.killed = row[1:6]
        acct.msg_times = deque(row[6])
        acct.open_notional = row[7]
        acct.default_limits = SymbolLimits(*row[8]) if any(row[8]) else NO_LIMITS  # as set_symbol_limits
        acct.limits = {symbol: SymbolLimits(*limits) for symbol, limits in row[9]}
        acct.exposure = {symbol: [buy, sell] for symbol, buy, sell in row[10]}
        acct.positions = {symbol: Position(qty, cost, realized) for symbol, qty, cost, realized in row[11]}
        engine.accounts[acct.account] = acct
    for symbol, bids, asks in books:
        book = engine.books[symbol]
        for side, levels in ((BUY, bids), (2, asks)):
            for _price, orders in levels:
                for order_id, account, cl_ord_id, order_side, price, qty, leaves, cum in orders:
                    assert order_side == side
                    order = Order(order_id, account, cl_ord_id, symbol, order_side, price, qty, leaves, cum)
                    book.add(order)
                    engine.orders[order_id] = order
    for account, cl_ord_id, index, order_id, reason in client_orders:
        engine.client_orders[(account, cl_ord_id)] = ClientOrder(index, order_id, reason)
    return engine
