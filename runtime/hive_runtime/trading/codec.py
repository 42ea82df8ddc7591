"""Wire format of commands and outcomes: versioned msgpack arrays, strictly validated.

A command is ``[FORMAT_VERSION, type_code, field, ...]`` with fields in declaration order of the
command class. Decoding checks the version, the type code, the field count and every field's
type and range, and raises :class:`CommandDecodeError` (and nothing else) on any malformed input,
so the node can reject a bad proposal before it reaches the log and a replica never crashes on one.

An outcome is ``[FORMAT_VERSION, reject_reason, [report, ...]]`` where a report is the fields of
:class:`ExecutionReport` in declaration order.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import msgpack

from hive_runtime.trading.commands import (
    AddAccount,
    AddInstrument,
    Command,
    ExecutionReport,
    ForgetClientOrderIds,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
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

FORMAT_VERSION = 1
MAX_INT = (1 << 63) - 1
MAX_STRING = 64
MAX_TEXT = 256

COMMAND_CODES: dict[type[Any], int] = {
    NewOrderSingle: 1,
    OrderCancelRequest: 2,
    OrderCancelReplaceRequest: 3,
    AddInstrument: 10,
    SetInstrumentRisk: 11,
    AddAccount: 12,
    SetAccountLimits: 13,
    SetSymbolLimits: 14,
    SetKillSwitch: 15,
    SetSymbolHalt: 16,
    SetRestricted: 17,
    SetReferencePrice: 18,
    SurveillanceAlert: 19,
    ForgetClientOrderIds: 20,
    SetRiskDefaults: 21,
}
COMMAND_TYPES: dict[int, type[Any]] = {code: cls for cls, code in COMMAND_CODES.items()}


class CommandDecodeError(ValueError):
    """Raised for any malformed command or outcome bytes."""


# Field kinds: "u" non-negative int64, "s" short identifier (non-empty unless noted), "e" possibly
# empty identifier, "t" free text, "b" bool.
_FIELD_KINDS: dict[str, str] = {
    "account": "s",
    "cl_ord_id": "s",
    "orig_cl_ord_id": "s",
    "symbol": "s",
    "post_only": "b",
    "engaged": "b",
    "halted": "b",
    "restricted": "b",
    "kind": "s",
    "detail": "t",
}
_EMPTY_ALLOWED: dict[type[Any], frozenset[str]] = {
    SetKillSwitch: frozenset({"account"}),
    SurveillanceAlert: frozenset({"account", "symbol"}),
}


def _schema(cls: type[Any]) -> tuple[tuple[str, str], ...]:
    empty = _EMPTY_ALLOWED.get(cls, frozenset())
    result = []
    for f in fields(cls):
        kind = _FIELD_KINDS.get(f.name, "u")
        if kind == "s" and f.name in empty:
            kind = "e"
        result.append((f.name, kind))
    return tuple(result)


_SCHEMAS: dict[int, tuple[type[Any], tuple[tuple[str, str], ...]]] = {
    code: (cls, _schema(cls)) for code, cls in COMMAND_TYPES.items()
}
_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls)) for cls in COMMAND_CODES
}

_packb = msgpack.packb
_unpackb = msgpack.unpackb


def encode_command(command: Command) -> bytes:
    """Encode a command to its canonical bytes (what the node proposes to the log)."""
    cls = type(command)
    code = COMMAND_CODES.get(cls)
    if code is None:
        raise TypeError(f"not a trading command: {cls.__name__}")
    values = [getattr(command, name) for name in _FIELD_NAMES[cls]]
    return _packb([FORMAT_VERSION, code, *values])  # type: ignore[no-any-return]


def _check(value: object, kind: str, name: str) -> None:
    if kind == "u":
        if type(value) is not int or value < 0 or value > MAX_INT:
            raise CommandDecodeError(f"field {name}: expected a non-negative 64-bit int, got {value!r}")
    elif kind == "b":
        if type(value) is not bool:
            raise CommandDecodeError(f"field {name}: expected a bool, got {value!r}")
    else:
        if type(value) is not str:
            raise CommandDecodeError(f"field {name}: expected a string, got {value!r}")
        limit = MAX_TEXT if kind == "t" else MAX_STRING
        if len(value) > limit or (kind == "s" and not value):
            raise CommandDecodeError(f"field {name}: string empty or longer than {limit}")


def _unpack(data: bytes) -> Any:
    if type(data) is not bytes:
        raise CommandDecodeError(f"expected bytes, got {type(data).__name__}")
    try:
        return _unpackb(data, use_list=False, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise CommandDecodeError(f"not a msgpack document: {exc}") from None


def decode_command(data: bytes) -> Command:
    """Decode and validate command bytes; raises :class:`CommandDecodeError` on anything malformed."""
    doc = _unpack(data)
    # Fast path for the two commands of the hot path: the same checks as the schema walk below,
    # written out. Anything that fails here takes the slow path, which names the bad field.
    if type(doc) is tuple:
        size = len(doc)
        if size == 12 and doc[1] == 1 and doc[0] == FORMAT_VERSION:
            _, _, ts, account, cl_ord_id, symbol, side, ord_type, qty, price, tif, post_only = doc
            if (
                type(ts) is int
                and type(side) is int
                and type(ord_type) is int
                and type(qty) is int
                and type(price) is int
                and type(tif) is int
                and type(post_only) is bool
                and type(account) is str
                and type(cl_ord_id) is str
                and type(symbol) is str
                and 0 <= ts <= MAX_INT
                and 0 <= side <= MAX_INT
                and 0 <= ord_type <= MAX_INT
                and 0 <= qty <= MAX_INT
                and 0 <= price <= MAX_INT
                and 0 <= tif <= MAX_INT
                and 0 < len(account) <= MAX_STRING
                and 0 < len(cl_ord_id) <= MAX_STRING
                and 0 < len(symbol) <= MAX_STRING
            ):
                return NewOrderSingle(
                    ts, account, cl_ord_id, symbol, side, ord_type, qty, price, tif, post_only
                )
        elif size == 7 and doc[1] == 2 and doc[0] == FORMAT_VERSION:
            _, _, ts, account, cl_ord_id, orig, symbol = doc
            if (
                type(ts) is int
                and type(account) is str
                and type(cl_ord_id) is str
                and type(orig) is str
                and type(symbol) is str
                and 0 <= ts <= MAX_INT
                and 0 < len(account) <= MAX_STRING
                and 0 < len(cl_ord_id) <= MAX_STRING
                and 0 < len(orig) <= MAX_STRING
                and 0 < len(symbol) <= MAX_STRING
            ):
                return OrderCancelRequest(ts, account, cl_ord_id, orig, symbol)
    if type(doc) is not tuple or len(doc) < 2:
        raise CommandDecodeError("a command is an array [version, type, fields...]")
    if doc[0] != FORMAT_VERSION or type(doc[0]) is not int:
        raise CommandDecodeError(f"unsupported command format version {doc[0]!r}")
    entry = _SCHEMAS.get(doc[1]) if type(doc[1]) is int else None
    if entry is None:
        raise CommandDecodeError(f"unknown command type {doc[1]!r}")
    cls, schema = entry
    values = doc[2:]
    if len(values) != len(schema):
        raise CommandDecodeError(f"{cls.__name__}: expected {len(schema)} fields, got {len(values)}")
    for (name, kind), value in zip(schema, values, strict=True):
        _check(value, kind, name)
    command: Command = cls(*values)
    return command


def encode_outcome(outcome: Outcome) -> bytes:
    return _packb((FORMAT_VERSION, outcome.reject_reason, outcome.reports))  # type: ignore[no-any-return]


_REPORT_FIELD_COUNT = len(ExecutionReport._fields)


def decode_outcome(data: bytes) -> Outcome:
    doc = _unpack(data)
    if type(doc) is not tuple or len(doc) != 3 or doc[0] != FORMAT_VERSION:
        raise CommandDecodeError("an outcome is an array [version, reject_reason, reports]")
    if type(doc[1]) is not int or type(doc[2]) is not tuple:
        raise CommandDecodeError("malformed outcome")
    reports = []
    for item in doc[2]:
        if type(item) is not tuple or len(item) != _REPORT_FIELD_COUNT:
            raise CommandDecodeError("malformed execution report")
        reports.append(ExecutionReport._make(item))
    return Outcome(doc[1], reports)
