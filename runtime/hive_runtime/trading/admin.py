"""Administrative commands: reference data, limits, kill switches, halts, restricted list, alerts.

Limits and reference data change only through these commands, so every change is in the log,
replicated to every replica and written to the audit trail like an order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hive_runtime.trading.book import OrderBook
from hive_runtime.trading.commands import (
    AddAccount,
    AddInstrument,
    ExecutionReport,
    ForgetClientOrderIds,
    Outcome,
    SetAccountLimits,
    SetInstrumentRisk,
    SetKillSwitch,
    SetReferencePrice,
    SetRestricted,
    SetRiskDefaults,
    SetSymbolHalt,
    SetSymbolLimits,
    SurveillanceAlert,
)
from hive_runtime.trading.state import NO_LIMITS, Account, Instrument, SymbolLimits
from hive_runtime.trading.types import RejectReason, StpMode

if TYPE_CHECKING:
    from hive_runtime.trading.engine import Engine

VALID_STP = frozenset(int(m) for m in StpMode)


def _fail(reason: RejectReason) -> Outcome:
    return Outcome(int(reason))


def _risk_fields_valid(collar_bps: int, band_bps: int, market_protection_bps: int) -> bool:
    return collar_bps <= 10000 * 100 and band_bps <= 10000 * 100 and market_protection_bps < 10000


def add_instrument(engine: Engine, cmd: AddInstrument) -> Outcome:
    if cmd.symbol in engine.instruments:
        return _fail(RejectReason.ALREADY_EXISTS)
    if cmd.tick_size <= 0 or cmd.lot_size <= 0 or cmd.reference_price % cmd.tick_size:
        return _fail(RejectReason.INVALID_ARGUMENT)
    if not _risk_fields_valid(cmd.collar_bps, cmd.band_bps, cmd.market_protection_bps):
        return _fail(RejectReason.INVALID_ARGUMENT)
    inst = Instrument(cmd.symbol, cmd.tick_size, cmd.lot_size, cmd.reference_price)
    _set_risk(inst, cmd.collar_bps, cmd.band_bps, cmd.band_window_us, cmd.market_protection_bps)
    engine.instruments[cmd.symbol] = inst
    engine.books[cmd.symbol] = OrderBook(cmd.symbol)
    return Outcome(0)


def _set_risk(
    inst: Instrument, collar_bps: int, band_bps: int, band_window_us: int, protection_bps: int
) -> None:
    inst.collar_bps = collar_bps
    inst.band_bps = band_bps
    inst.band_window_us = band_window_us
    inst.market_protection_bps = protection_bps


def set_instrument_risk(engine: Engine, cmd: SetInstrumentRisk) -> Outcome:
    inst = engine.instruments.get(cmd.symbol)
    if inst is None:
        return _fail(RejectReason.UNKNOWN_SYMBOL)
    if not _risk_fields_valid(cmd.collar_bps, cmd.band_bps, cmd.market_protection_bps):
        return _fail(RejectReason.INVALID_ARGUMENT)
    _set_risk(inst, cmd.collar_bps, cmd.band_bps, cmd.band_window_us, cmd.market_protection_bps)
    return Outcome(0)


def _apply_account_limits(acct: Account, cmd: AddAccount | SetAccountLimits) -> None:
    acct.stp_mode = cmd.stp_mode
    acct.credit_limit = cmd.credit_limit
    acct.max_msgs = cmd.max_msgs
    acct.throttle_window_us = cmd.throttle_window_us


def add_account(engine: Engine, cmd: AddAccount) -> Outcome:
    if cmd.account in engine.accounts:
        return _fail(RejectReason.ALREADY_EXISTS)
    if cmd.stp_mode not in VALID_STP:
        return _fail(RejectReason.INVALID_ARGUMENT)
    acct = Account(cmd.account)
    _apply_account_limits(acct, cmd)
    engine.accounts[cmd.account] = acct
    return Outcome(0)


def set_account_limits(engine: Engine, cmd: SetAccountLimits) -> Outcome:
    acct = engine.accounts.get(cmd.account)
    if acct is None:
        return _fail(RejectReason.UNKNOWN_ACCOUNT)
    if cmd.stp_mode not in VALID_STP:
        return _fail(RejectReason.INVALID_ARGUMENT)
    _apply_account_limits(acct, cmd)
    return Outcome(0)


def set_symbol_limits(engine: Engine, cmd: SetSymbolLimits) -> Outcome:
    acct = engine.accounts.get(cmd.account)
    if acct is None:
        return _fail(RejectReason.UNKNOWN_ACCOUNT)
    limits = SymbolLimits(
        cmd.max_order_qty, cmd.max_order_notional, cmd.max_gross_position, cmd.max_net_position
    )
    if cmd.symbol == "*":
        # All zero is "no limits of its own" (the same object a new account has): then the
        # cluster's risk defaults apply. By value, so a restored snapshot decides the same.
        acct.default_limits = limits if any(limits.as_list()) else NO_LIMITS
    elif cmd.symbol not in engine.instruments:
        return _fail(RejectReason.UNKNOWN_SYMBOL)
    else:
        acct.limits[cmd.symbol] = limits
    return Outcome(0)


def set_risk_defaults(engine: Engine, cmd: SetRiskDefaults) -> Outcome:
    limits = SymbolLimits(
        cmd.max_order_qty, cmd.max_order_notional, cmd.max_gross_position, cmd.max_net_position
    )
    engine.set_risk_defaults(limits, cmd.credit_limit)
    return Outcome(0)


def set_kill_switch(engine: Engine, cmd: SetKillSwitch) -> Outcome:
    """Engage: cancel every resting order in scope (order id order), reject new ones until reset."""
    if cmd.account:
        acct = engine.accounts.get(cmd.account)
        if acct is None:
            return _fail(RejectReason.UNKNOWN_ACCOUNT)
        acct.killed = cmd.engaged
    else:
        engine.global_kill = cmd.engaged
    reports: list[ExecutionReport] = []
    if cmd.engaged:
        in_scope = [
            order
            for order_id, order in sorted(engine.orders.items())
            if not cmd.account or order.account == cmd.account
        ]
        reports = [
            engine.cancel_resting(order, int(RejectReason.KILL_SWITCH), cmd.ts_us) for order in in_scope
        ]
    return Outcome(0, reports)


def set_symbol_halt(engine: Engine, cmd: SetSymbolHalt) -> Outcome:
    inst = engine.instruments.get(cmd.symbol)
    if inst is None:
        return _fail(RejectReason.UNKNOWN_SYMBOL)
    inst.halted = cmd.halted
    if not cmd.halted:
        inst.window.mins.clear()  # a resumed symbol starts a fresh circuit-breaker window
        inst.window.maxs.clear()
    return Outcome(0)


def set_restricted(engine: Engine, cmd: SetRestricted) -> Outcome:
    inst = engine.instruments.get(cmd.symbol)
    if inst is None:
        return _fail(RejectReason.UNKNOWN_SYMBOL)
    inst.restricted = cmd.restricted
    return Outcome(0)


def set_reference_price(engine: Engine, cmd: SetReferencePrice) -> Outcome:
    inst = engine.instruments.get(cmd.symbol)
    if inst is None:
        return _fail(RejectReason.UNKNOWN_SYMBOL)
    if cmd.price <= 0 or cmd.price % inst.tick_size:
        return _fail(RejectReason.INVALID_PRICE)
    inst.reference_price = cmd.price
    return Outcome(0)


def forget_client_order_ids(engine: Engine, cmd: ForgetClientOrderIds) -> Outcome:
    live = {(order.account, order.cl_ord_id) for order in engine.orders.values()}
    engine.client_orders = {key: entry for key, entry in engine.client_orders.items() if key in live}
    return Outcome(0)


def surveillance_alert(engine: Engine, cmd: SurveillanceAlert) -> Outcome:
    engine.alert_count += 1
    return Outcome(0)


HANDLERS: dict[type[Any], Callable[[Any, Any], Outcome]] = {
    AddInstrument: add_instrument,
    SetInstrumentRisk: set_instrument_risk,
    AddAccount: add_account,
    SetAccountLimits: set_account_limits,
    SetSymbolLimits: set_symbol_limits,
    SetRiskDefaults: set_risk_defaults,
    SetKillSwitch: set_kill_switch,
    SetSymbolHalt: set_symbol_halt,
    SetRestricted: set_restricted,
    SetReferencePrice: set_reference_price,
    SurveillanceAlert: surveillance_alert,
    ForgetClientOrderIds: forget_client_order_ids,
}
