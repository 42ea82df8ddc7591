"""What the replicas apply: the trading engine (and, in tests and benchmarks only, a register space).

Every committed entry is an envelope: one tag byte, then the payload. ``TRADING`` payloads are
trading commands (:mod:`hive_runtime.trading.codec`). ``REGISTER`` payloads are put and
compare-and-set operations for the register space (:mod:`hive_runtime.node.registers`), a
separate machine that exists only when the node's ``register_space`` setting is on; without it a
register entry is answered with a refusal and changes nothing, so a production node holds trading
state only. What exists lives in the snapshot and the digest, so replicas that disagree are caught.

``BATCH`` payloads are a msgpack array of ``TRADING``, ``REGISTER``, ``AUDIT_TICK`` or
``VERSIONS`` envelopes (never nested batches): the leader packs the proposals of one event-loop
iteration into one entry, so one WAL record, one wire entry and one apply call carry many
commands. They apply in array order and share the entry's log index (the audit chain orders them).

``AUDIT_TICK`` payloads are a msgpack integer, the leader's time in microseconds: the leader
proposes one when the audit trail has records that no checkpoint covers yet and the checkpoint
interval has passed with no order to trigger one (:mod:`hive_runtime.node.audit_seal`); applying
it checkpoints them on every replica (:meth:`hive_runtime.trading.TradingStateMachine.audit_tick`).

``VERSIONS`` payloads carry every member's build version and the resulting ``clusterVersion``
(:mod:`hive_runtime.node.versions`); the leader proposes one when membership or a member's
version changes, and proposes entry types newer than the base set only when it admits them.
"""

from __future__ import annotations

from hashlib import sha256
from typing import Any

import msgpack

from hive_runtime.node.registers import RegisterSpace
from hive_runtime.node.versions import VERSIONS_TAG, ClusterVersionState
from hive_runtime.trading import TradingStateMachine

TRADING = 1
REGISTER = 2
BATCH = 3
AUDIT_TICK = 4
VERSIONS = VERSIONS_TAG
_TRADING_TAG = bytes([TRADING])
_REGISTER_TAG = bytes([REGISTER])
_BATCH_TAG = bytes([BATCH])
_AUDIT_TICK_TAG = bytes([AUDIT_TICK])
_VERSIONS_TAG = bytes([VERSIONS])
_BATCHABLE = (_TRADING_TAG, _REGISTER_TAG, _AUDIT_TICK_TAG, _VERSIONS_TAG)
SNAPSHOT_FORMAT = "hive-node-state"
SNAPSHOT_VERSION = 1


class EnvelopeError(ValueError):
    """An entry that is not a valid envelope (answered, never raised out of apply)."""


def _pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value)
    return packed


def encode_register_result(*, ok: bool, value: Any) -> bytes:
    """The ``[ok, value]`` outcome of register, audit-tick and version entries."""
    return _pack([ok, value])


def decode_register_result(data: bytes) -> tuple[bool, Any]:
    ok, value = msgpack.unpackb(data, raw=False)
    return bool(ok), value


def audit_tick_entry(ts_us: int) -> bytes:
    """An entry that checkpoints the audit trail's unsigned records if the interval has passed."""
    return _AUDIT_TICK_TAG + _pack(ts_us)


def trading_entry(command_bytes: bytes) -> bytes:
    return bytes([TRADING]) + command_bytes


def batch_entry(envelopes: list[bytes]) -> bytes:
    """One entry carrying ``envelopes`` (each a TRADING or REGISTER entry), applied in order."""
    return bytes([BATCH]) + _pack(envelopes)


def is_batch(data: bytes) -> bool:
    return data[:1] == _BATCH_TAG


def register_put(key: str, value: Any) -> bytes:
    return bytes([REGISTER]) + _pack(["put", key, value, None])


def register_cas(key: str, *, expected: Any, value: Any) -> bytes:
    return bytes([REGISTER]) + _pack(["cas", key, value, expected])


class NodeStateMachine:
    """Deterministic: same entries in the same order give the same snapshot and digest."""

    def __init__(
        self,
        *,
        checkpoint_every: int = 1000,
        checkpoint_interval_ms: int = 1000,
        register_space: bool = False,
    ) -> None:
        """``register_space``: tests and benchmarks only (see :mod:`hive_runtime.node.registers`)."""
        self.trading = TradingStateMachine(
            checkpoint_every=checkpoint_every, checkpoint_interval_ms=checkpoint_interval_ms
        )
        self.registers: RegisterSpace | None = RegisterSpace() if register_space else None
        self.versions = ClusterVersionState()
        self.applied_index = 0

    def apply(self, index: int, data: bytes) -> bytes:
        """Apply the committed entry at ``index``; returns the encoded outcome for the proposer."""
        self.applied_index = index
        tag = data[:1]
        if tag == _TRADING_TAG:
            return self.trading.apply(index, data[1:])
        if tag == _REGISTER_TAG:
            if self.registers is None:
                return encode_register_result(ok=False, value="register space disabled")
            return self.registers.apply(data[1:])
        if tag == _AUDIT_TICK_TAG:
            return self._apply_audit_tick(data[1:])
        if tag == _VERSIONS_TAG:
            error = self.versions.apply(data[1:])
            return encode_register_result(ok=error is None, value=error or self.versions.cluster_version)
        return encode_register_result(ok=False, value="invalid entry envelope")

    def apply_batch(self, index: int, data: bytes) -> list[bytes]:
        """Apply the ``BATCH`` entry at ``index``: one outcome per command, in order. A batch that
        does not decode applies nothing and yields no outcomes (its proposers hear an error)."""
        self.applied_index = index
        try:
            envelopes = msgpack.unpackb(data[1:], raw=True, use_list=True)
        except Exception:
            return []
        if not isinstance(envelopes, list) or not all(
            isinstance(item, bytes) and item[:1] in _BATCHABLE for item in envelopes
        ):
            return []
        return [self.apply(index, item) for item in envelopes]

    def _apply_audit_tick(self, payload: bytes) -> bytes:
        try:
            ts_us = msgpack.unpackb(payload)
        except Exception:
            ts_us = None
        if type(ts_us) is not int or ts_us < 0:
            return encode_register_result(ok=False, value="invalid audit tick")
        checkpoint = self.trading.audit_tick(ts_us)
        return encode_register_result(ok=True, value=None if checkpoint is None else checkpoint.tree_size)

    def read_register(self, key: str) -> Any:
        """A register's value; None also when the register space is disabled."""
        return self.registers.read(key) if self.registers is not None else None

    def note_applied(self, index: int) -> None:
        """Membership and no-op entries advance the applied index without changing state."""
        self.applied_index = index

    def snapshot(self) -> bytes:
        document = [
            SNAPSHOT_FORMAT,
            SNAPSHOT_VERSION,
            self.applied_index,
            self.trading.snapshot(),
            self.registers.snapshot_value() if self.registers is not None else [],
            self.versions.snapshot_value(),
        ]
        return _pack(document)

    def restore(self, data: bytes) -> None:
        try:
            fmt, version, applied, trading, registers, *rest = msgpack.unpackb(data, raw=False)
            versions = rest[0] if rest else None  # absent in snapshots from before cluster versions
        except Exception as error:
            raise ValueError(f"not a node snapshot: {error}") from None
        if fmt != SNAPSHOT_FORMAT or version != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported node snapshot {fmt!r} version {version!r}")
        self.trading.restore(trading)
        if self.registers is not None:
            self.registers.restore(registers)
        elif registers:
            raise ValueError("the snapshot holds registers but this node's register space is disabled")
        self.versions.restore(versions)
        self.applied_index = applied

    def digest(self) -> str:
        return sha256(self.snapshot()).hexdigest()
