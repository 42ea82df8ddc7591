"""The audit record of one applied command: RTS 24-style fields plus the exact command and outcome.

A record is the msgpack array ``[RECORD_VERSION, log_index, ts_us, command_type, account, symbol,
cl_ord_id, side, qty, price, decision, reason, command_bytes, outcome_bytes]``. The leading fields
make the trail searchable without decoding; the embedded command and outcome bytes make it
complete (every execution report is in there). ``decision`` is ``"A"`` (accepted) or ``"R"``
(rejected); ``reason`` is the reject reason, or for an accepted order the reason its remainder was
canceled (e.g. ``FOK_NOT_FILLABLE``), 0 otherwise. ``command_type`` is 0 for undecodable bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

RECORD_VERSION = 1
ACCEPTED = "A"
REJECTED = "R"

_packb = msgpack.packb


def build_record(
    *,
    index: int,
    ts_us: int,
    command_type: int,
    command: Any,
    decision_reason: tuple[str, int],
    command_bytes: bytes,
    outcome_bytes: bytes,
) -> bytes:
    decision, reason = decision_reason
    return _packb(  # type: ignore[no-any-return]
        (
            RECORD_VERSION,
            index,
            ts_us,
            command_type,
            getattr(command, "account", ""),
            getattr(command, "symbol", ""),
            getattr(command, "cl_ord_id", ""),
            getattr(command, "side", 0),
            getattr(command, "qty", 0),
            getattr(command, "price", 0),
            decision,
            reason,
            command_bytes,
            outcome_bytes,
        )
    )


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    index: int
    ts_us: int
    command_type: int
    account: str
    symbol: str
    cl_ord_id: str
    side: int
    qty: int
    price: int
    decision: str
    reason: int
    command_bytes: bytes
    outcome_bytes: bytes


def decode_record(record: bytes) -> DecodedRecord:
    """Parse a record; raises ``ValueError`` if it is not a well-formed version 1 record."""
    try:
        doc = msgpack.unpackb(record, use_list=False, raw=False)
    except Exception as exc:
        raise ValueError(f"record is not msgpack: {exc}") from None
    if type(doc) is not tuple or len(doc) != 14 or doc[0] != RECORD_VERSION:
        raise ValueError("record is not a version 1 audit record")
    return DecodedRecord(*doc[1:])
