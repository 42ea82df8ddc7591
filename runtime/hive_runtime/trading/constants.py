"""Plain-int and plain-string aliases of the enumerations, for the hot path.

Comparing against a module-level int is cheaper than an enum attribute lookup, and the values
stored in orders and reports are plain ints and strings (see :mod:`hive_runtime.trading.types`).
"""

from __future__ import annotations

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
R_INVALID = int(R.INVALID_ARGUMENT)

new_tuple = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)
