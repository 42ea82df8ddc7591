"""The replicated state machine the runtime node drives: bytes in, bytes out, plus audit output.

``TradingStateMachine.apply(index, data)`` decodes one committed log entry, runs it through the
engine, appends the audit record to the hash chain and returns the encoded outcome. It never
raises on bad input: undecodable bytes are answered with an ``INVALID_ARGUMENT`` outcome (and
audited), identically on every replica.

Determinism rules enforced here: the time of a command is its ``ts_us`` clamped to be no earlier
than the previous command's (leaders' clocks may differ after a failover); nothing else
time-like is consulted.

Two read-only outputs leave the machine without touching its state: ``decisions`` counts the
applied commands by reject reason (0 = accepted) for the node's ``hive_orders_total``, and an
``observer`` (the leader's surveillance, :mod:`hive_runtime.node.surveillance`) sees each
decoded command with its outcome. Neither is part of the snapshot or the digest.
"""

from __future__ import annotations

from collections.abc import Callable
from hashlib import sha256
from typing import Any

import msgpack

from hive_runtime.audit.chain import AuditChain, AuditRecord, Checkpoint
from hive_runtime.audit.records import ACCEPTED, RECORD_VERSION, REJECTED, build_record
from hive_runtime.trading.codec import (
    COMMAND_CODES,
    FORMAT_VERSION,
    CommandDecodeError,
    decode_command,
    encode_command,
    encode_outcome,
)
from hive_runtime.trading.commands import (
    Command,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    Outcome,
)
from hive_runtime.trading.engine import ClientOrder, Engine
from hive_runtime.trading.snapshot import engine_state, restore_engine
from hive_runtime.trading.types import RejectReason

SNAPSHOT_FORMAT = "hive-trading-snapshot"
SNAPSHOT_VERSION = 1
_INVALID = Outcome(int(RejectReason.INVALID_ARGUMENT))
_packb = msgpack.packb

# The audited order fields (account, symbol, cl_ord_id, side, qty, price) of the hot commands.
_AUDIT_FIELDS: dict[type[Any], Callable[[Any], tuple[str, str, str, int, int, int]]] = {
    NewOrderSingle: lambda c: (c.account, c.symbol, c.cl_ord_id, c.side, c.qty, c.price),
    OrderCancelRequest: lambda c: (c.account, c.symbol, c.cl_ord_id, 0, 0, 0),
    OrderCancelReplaceRequest: lambda c: (c.account, c.symbol, c.cl_ord_id, c.side, c.qty, c.price),
}


class TradingStateMachine:
    def __init__(self, *, checkpoint_every: int = 1000, checkpoint_interval_ms: int = 1000) -> None:
        self.engine = Engine()
        self.audit = AuditChain(every_records=checkpoint_every, interval_us=checkpoint_interval_ms * 1000)
        self.last_index = 0
        self.last_ts_us = 0
        self.decisions: dict[int, int] = {}  # reject reason (0 = accepted) -> commands applied
        self.observer: Callable[[Command, Outcome], None] | None = None

    # ---- applying --------------------------------------------------------------------------------
    def apply(self, index: int, data: bytes) -> bytes:
        """Apply the committed entry ``data`` at log ``index``; returns the encoded outcome."""
        try:
            command = decode_command(data)
        except CommandDecodeError:
            outcome_bytes = encode_outcome(_INVALID)
            record = build_record(
                index=index,
                ts_us=self.last_ts_us,
                command_type=0,
                command=None,
                decision_reason=(REJECTED, _INVALID.reject_reason),
                command_bytes=data,
                outcome_bytes=outcome_bytes,
            )
            self.audit.append(record, self.last_ts_us)
            self.last_index = index
            self._count(_INVALID.reject_reason)
            return outcome_bytes
        outcome, outcome_bytes = self._apply(index, command, data)
        if self.observer is not None:
            self.observer(command, outcome)
        return outcome_bytes

    def _count(self, reason: int) -> None:
        decisions = self.decisions
        decisions[reason] = decisions.get(reason, 0) + 1

    def execute(self, command: Command, index: int | None = None) -> Outcome:
        """Typed entry point (tests, tools, a single-node engine): same effect as :meth:`apply`."""
        if index is None:
            index = self.last_index + 1
        return self._apply(index, command, encode_command(command))[0]

    def _apply(self, index: int, command: Command, data: bytes) -> tuple[Outcome, bytes]:
        # The hot path of every replica: kept in one frame on purpose (engine dispatch, outcome
        # encoding and the audit record are written out rather than called).
        ts = command.ts_us
        if ts < self.last_ts_us:
            command.ts_us = ts = self.last_ts_us
        self.last_ts_us = ts
        self.last_index = index
        engine = self.engine
        engine.index = index
        cls = type(command)
        outcome = engine.handlers[cls](command)
        reason = outcome.reject_reason
        reports = outcome.reports
        decisions = self.decisions
        decisions[reason] = decisions.get(reason, 0) + 1
        outcome_bytes = _packb((FORMAT_VERSION, reason, reports))
        if reason:
            decision, audit_reason = REJECTED, reason
        else:
            decision, audit_reason = ACCEPTED, (reports[-1].reject_reason if reports else 0)
        fields = _AUDIT_FIELDS.get(cls)
        if fields is not None:  # the layout of build_record, without its getattr calls
            account, symbol, cl_ord_id, side, qty, price = fields(command)
            record = _packb(
                (
                    RECORD_VERSION,
                    index,
                    ts,
                    COMMAND_CODES[cls],
                    account,
                    symbol,
                    cl_ord_id,
                    side,
                    qty,
                    price,
                    decision,
                    audit_reason,
                    data,
                    outcome_bytes,
                )
            )
        else:
            record = build_record(
                index=index,
                ts_us=ts,
                command_type=COMMAND_CODES[cls],
                command=command,
                decision_reason=(decision, audit_reason),
                command_bytes=data,
                outcome_bytes=outcome_bytes,
            )
        self.audit.append(record, ts)
        return outcome, outcome_bytes

    def audit_tick(self, ts_us: int) -> Checkpoint | None:
        """Apply an audit tick: command time moves to ``ts_us`` (clamped like a command's) and the
        records since the last checkpoint are checkpointed if the schedule's interval has passed.
        No record is written: the tick is not a trading command."""
        ts = max(ts_us, self.last_ts_us)
        self.last_ts_us = ts
        return self.audit.idle_checkpoint(ts)

    # ---- audit and idempotency -------------------------------------------------------------------
    def take_audit(self) -> list[AuditRecord | Checkpoint]:
        """Records and checkpoints produced since the last call, for the node's AuditWriter."""
        return self.audit.take()

    def lookup_client_order(self, account: str, cl_ord_id: str) -> ClientOrder | None:
        """What ``cl_ord_id`` was first used for (log index, order id, reject reason), if anything."""
        return self.engine.client_orders.get((account, cl_ord_id))

    # ---- snapshot ----------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Canonical msgpack of the whole state (engine and audit chain, not pending audit output)."""
        document = [
            SNAPSHOT_FORMAT,
            SNAPSHOT_VERSION,
            self.last_index,
            self.last_ts_us,
            engine_state(self.engine),
            self.audit.state(),
        ]
        return msgpack.packb(document)  # type: ignore[no-any-return]

    def restore(self, data: bytes) -> None:
        try:
            document = msgpack.unpackb(data, use_list=False, raw=False)
            fmt, version, last_index, last_ts, engine, audit = document
        except Exception as exc:
            raise ValueError(f"not a trading snapshot: {exc}") from None
        if fmt != SNAPSHOT_FORMAT or version != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported snapshot {fmt!r} version {version!r}")
        self.engine = restore_engine(engine)
        self.audit = AuditChain.from_state(audit)
        self.last_index = last_index
        self.last_ts_us = last_ts

    def digest(self) -> str:
        """SHA-256 hex of :meth:`snapshot`: equal on every replica that applied the same entries."""
        return sha256(self.snapshot()).hexdigest()
