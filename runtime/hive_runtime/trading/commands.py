"""Commands the trading state machine accepts and the execution reports it produces.

Order entry follows FIX 4.4 (NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest,
ExecutionReport) so a FIX gateway maps fields one to one. Administrative commands change reference
data and limits; they go through the log like orders, so every change is replicated and audited.

Every command carries ``ts_us``: a timestamp in microseconds assigned by the leader before
proposing. It is the only clock the engine knows. Prices and quantities are integers (price units
and quantity units; an instrument's tick and lot sizes are expressed in those units).

Field values of the enumerations in :mod:`hive_runtime.trading.types` are stored as plain ints or
strings (the decoder does not wrap them) because the hot path compares them as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(slots=True)
class NewOrderSingle:
    ts_us: int
    account: str
    cl_ord_id: str
    symbol: str
    side: int
    ord_type: int
    qty: int
    price: int
    tif: int = 0
    post_only: bool = False


@dataclass(slots=True)
class OrderCancelRequest:
    ts_us: int
    account: str
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str


@dataclass(slots=True)
class OrderCancelReplaceRequest:
    """Replace ``orig_cl_ord_id``: ``qty`` is the new total order quantity (FIX OrderQty)."""

    ts_us: int
    account: str
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: int
    qty: int
    price: int


@dataclass(slots=True)
class AddInstrument:
    """A tradable symbol. ``*_bps`` are basis points of the reference price; 0 disables a check."""

    ts_us: int
    symbol: str
    tick_size: int
    lot_size: int
    reference_price: int
    collar_bps: int = 0
    band_bps: int = 0
    band_window_us: int = 0
    market_protection_bps: int = 500


@dataclass(slots=True)
class SetInstrumentRisk:
    ts_us: int
    symbol: str
    collar_bps: int
    band_bps: int
    band_window_us: int
    market_protection_bps: int


@dataclass(slots=True)
class AddAccount:
    """An account. Limits of 0 mean "no limit"; ``stp_mode`` is a :class:`StpMode` value."""

    ts_us: int
    account: str
    stp_mode: int = 1
    credit_limit: int = 0
    max_msgs: int = 0
    throttle_window_us: int = 0


@dataclass(slots=True)
class SetAccountLimits:
    ts_us: int
    account: str
    stp_mode: int
    credit_limit: int
    max_msgs: int
    throttle_window_us: int


@dataclass(slots=True)
class SetSymbolLimits:
    """Per account and symbol order and position limits; ``symbol="*"`` sets the account default."""

    ts_us: int
    account: str
    symbol: str
    max_order_qty: int = 0
    max_order_notional: int = 0
    max_gross_position: int = 0
    max_net_position: int = 0


@dataclass(slots=True)
class SetRiskDefaults:
    """Cluster-wide default limits (0 = no limit): an account with no limits of its own for a
    symbol (no per-symbol limits and no account default) gets these order and position limits, and
    one with no credit limit gets ``credit_limit``. Proposed through the admin API only
    (``PUT /risk/defaults``), when ``clusterVersion`` admits it."""

    ts_us: int
    max_order_qty: int = 0
    max_order_notional: int = 0
    max_gross_position: int = 0
    max_net_position: int = 0
    credit_limit: int = 0


@dataclass(slots=True)
class SetKillSwitch:
    """Engage or reset a kill switch; ``account=""`` is the global switch."""

    ts_us: int
    account: str
    engaged: bool


@dataclass(slots=True)
class SetSymbolHalt:
    ts_us: int
    symbol: str
    halted: bool


@dataclass(slots=True)
class SetRestricted:
    """Put a symbol on (or take it off) the firm-wide restricted list."""

    ts_us: int
    symbol: str
    restricted: bool


@dataclass(slots=True)
class SetReferencePrice:
    ts_us: int
    symbol: str
    price: int


@dataclass(slots=True)
class SurveillanceAlert:
    """An alert raised by leader-side surveillance; recorded (and audited), changes no limits."""

    ts_us: int
    symbol: str
    account: str
    kind: str
    score_milli: int
    detail: str = ""


@dataclass(slots=True)
class ForgetClientOrderIds:
    """Start of a trading day: forget the client order ids of orders that are no longer live.

    FIX ClOrdIDs are unique per trading day; without this the duplicate-id table grows forever.
    Live orders keep their ids (so they can still be canceled or replaced).
    """

    ts_us: int


Command = (
    NewOrderSingle
    | OrderCancelRequest
    | OrderCancelReplaceRequest
    | AddInstrument
    | SetInstrumentRisk
    | AddAccount
    | SetAccountLimits
    | SetSymbolLimits
    | SetRiskDefaults
    | SetKillSwitch
    | SetSymbolHalt
    | SetRestricted
    | SetReferencePrice
    | SurveillanceAlert
    | ForgetClientOrderIds
)


class ExecutionReport(NamedTuple):
    """FIX 4.4 ExecutionReport (35=8). ``reject_reason`` is a :class:`RejectReason` value.

    A named tuple: cheap to build on the hot path and packed by msgpack as an array as is.
    """

    exec_id: int
    order_id: int
    cl_ord_id: str
    orig_cl_ord_id: str
    account: str
    symbol: str
    side: int
    exec_type: str
    ord_status: str
    order_qty: int
    price: int
    last_qty: int
    last_px: int
    leaves_qty: int
    cum_qty: int
    reject_reason: int
    transact_time_us: int


@dataclass(slots=True)
class Outcome:
    """Everything one command produced: its decision (``reject_reason`` 0 = accepted) and reports."""

    reject_reason: int
    reports: list[ExecutionReport] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.reject_reason == 0
