"""Enumerations of the trading command model, valued as their FIX 4.4 counterparts.

Values are the FIX tag values (Side 54, OrdType 40, TimeInForce 59, ExecType 150, OrdStatus 39) so
that a FIX gateway maps fields one to one. Enums whose FIX values are digits are ``IntEnum`` (the
hot path compares plain ints); ExecType and OrdStatus use FIX letters and are ``StrEnum``.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Side(IntEnum):
    BUY = 1
    SELL = 2


class OrdType(IntEnum):
    MARKET = 1
    LIMIT = 2


class TimeInForce(IntEnum):
    DAY = 0
    GTC = 1
    IOC = 3
    FOK = 4


class ExecType(StrEnum):
    NEW = "0"
    CANCELED = "4"
    REPLACED = "5"
    REJECTED = "8"
    EXPIRED = "C"
    TRADE = "F"
    ORDER_STATUS = "I"


class OrdStatus(StrEnum):
    NEW = "0"
    PARTIALLY_FILLED = "1"
    FILLED = "2"
    CANCELED = "4"
    REJECTED = "8"
    EXPIRED = "C"


class StpMode(IntEnum):
    """Self-trade prevention: what happens when an order would trade against its own account."""

    CANCEL_RESTING = 1
    CANCEL_INCOMING = 2


class RejectReason(IntEnum):
    """Why a command was refused (or why an order was canceled by the engine).

    One code per control so that audit, metrics and clients can tell the controls apart.
    """

    NONE = 0
    UNKNOWN_SYMBOL = 1
    UNKNOWN_ACCOUNT = 2
    UNKNOWN_ORDER = 3
    INVALID_QUANTITY = 4
    INVALID_PRICE = 5
    MAX_ORDER_QUANTITY = 10
    MAX_ORDER_NOTIONAL = 11
    PRICE_COLLAR = 12
    GROSS_POSITION_LIMIT = 13
    NET_POSITION_LIMIT = 14
    CREDIT_LIMIT = 15
    THROTTLE = 16
    DUPLICATE_CL_ORD_ID = 17
    RESTRICTED_SYMBOL = 18
    KILL_SWITCH = 19
    SYMBOL_HALTED = 20
    CIRCUIT_BREAKER = 21
    POST_ONLY_WOULD_CROSS = 22
    FOK_NOT_FILLABLE = 23
    SELF_TRADE_PREVENTED = 24
    NO_LIQUIDITY = 25
    REPLACE_SIDE_CHANGE = 26
    ALREADY_EXISTS = 27
    INVALID_ARGUMENT = 28
    NO_REFERENCE_PRICE = 29


class Decision(StrEnum):
    """Audit decision of a whole command."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
