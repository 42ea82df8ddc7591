"""Raft messages and their msgpack-friendly wire form.

``Message.to_wire()`` produces nested lists of ints/bytes/bools/None that msgpack encodes as-is;
``Message.from_wire()`` validates every field and raises :class:`WireFormatError` on anything
malformed, so a bad frame never reaches the protocol logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from hive_runtime.raft.errors import WireFormatError
from hive_runtime.raft.types import ConfState, Entry, EntryKind, SnapshotMeta, decode_conf_entry

WIRE_VERSION = 1
_MAX_ID = 2**63 - 1


class MessageType(IntEnum):
    APPEND = 0
    APPEND_RESP = 1
    VOTE = 2
    VOTE_RESP = 3
    PRE_VOTE = 4
    PRE_VOTE_RESP = 5
    HEARTBEAT = 6
    HEARTBEAT_RESP = 7
    SNAPSHOT = 8
    SNAPSHOT_RESP = 9
    TIMEOUT_NOW = 10
    READ_INDEX = 11
    READ_INDEX_RESP = 12


@dataclass(frozen=True, slots=True)
class SnapshotChunk:
    """One piece of a snapshot being installed; ``done`` marks the last piece."""

    meta: SnapshotMeta
    offset: int
    data: bytes
    done: bool


@dataclass(frozen=True, slots=True)
class Message:
    """A message between two nodes. Unused fields keep their defaults.

    ``index``/``log_term`` describe the entry preceding ``entries`` for APPEND, the candidate's
    last entry for (PRE_)VOTE, and the acknowledged index for APPEND_RESP. A rejected
    APPEND_RESP carries the follower's hint (``reject_hint`` index and its term in ``log_term``)
    for fast backtracking. ``context`` tags ReadIndex rounds and leadership-transfer elections.
    """

    type: MessageType
    sender: int
    to: int
    term: int
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    context: bytes = b""
    snapshot: SnapshotChunk | None = field(default=None)

    def to_wire(self) -> list[Any]:
        snap: list[Any] | None = None
        if self.snapshot is not None:
            chunk = self.snapshot
            meta = chunk.meta
            snap = [
                meta.index,
                meta.term,
                sorted(meta.conf_state.voters),
                sorted(meta.conf_state.learners),
                chunk.offset,
                chunk.data,
                chunk.done,
            ]
        return [
            WIRE_VERSION,
            int(self.type),
            self.sender,
            self.to,
            self.term,
            self.log_term,
            self.index,
            [[e.term, e.index, int(e.kind), e.data] for e in self.entries],
            self.commit,
            self.reject,
            self.reject_hint,
            self.context,
            snap,
        ]

    @classmethod
    def from_wire(cls, wire: Any) -> Message:
        if not isinstance(wire, (list, tuple)) or len(wire) != 13:
            raise WireFormatError("message must be a 13-element array")
        if wire[0] != WIRE_VERSION or type(wire[0]) is not int:
            raise WireFormatError(f"unsupported wire version {wire[0]!r}")
        for position, name in _INT_FIELDS:
            value = wire[position]
            if type(value) is not int or value < 0 or value > _MAX_ID:
                raise WireFormatError(f"{name} must be a non-negative 64-bit int, got {value!r}")
        kind, sender, to = wire[1], wire[2], wire[3]
        if kind not in MessageType._value2member_map_:
            raise WireFormatError(f"unknown message type {kind}")
        if sender == 0 or to == 0:
            raise WireFormatError("sender and receiver must be positive node ids")
        entries_raw = wire[7]
        if not isinstance(entries_raw, (list, tuple)):
            raise WireFormatError("entries must be an array")
        entries = tuple(_entry(raw) for raw in entries_raw) if entries_raw else ()
        snap_raw = wire[12]
        snapshot = None if snap_raw is None else _chunk(snap_raw)
        _check_semantics(
            kind, term=wire[4], log_term=wire[5], index=wire[6], entries=entries, snapshot=snapshot
        )
        if type(wire[9]) is not bool:
            raise WireFormatError("reject must be a bool")
        return cls(
            type=MessageType(kind),
            sender=sender,
            to=to,
            term=wire[4],
            log_term=wire[5],
            index=wire[6],
            entries=entries,
            commit=wire[8],
            reject=wire[9],
            reject_hint=wire[10],
            context=_bytes(wire[11], "context"),
            snapshot=snapshot,
        )


_INT_FIELDS = (
    (1, "type"),
    (2, "sender"),
    (3, "to"),
    (4, "term"),
    (5, "log_term"),
    (6, "index"),
    (8, "commit"),
    (10, "reject_hint"),
)


def _check_semantics(
    kind: int,
    *,
    term: int,
    log_term: int,
    index: int,
    entries: tuple[Entry, ...],
    snapshot: SnapshotChunk | None,
) -> None:
    """Reject well-typed but impossible messages before they reach the protocol logic."""
    if entries:
        if kind != MessageType.APPEND:
            raise WireFormatError(f"{MessageType(kind).name} must not carry entries")
        previous_term = log_term
        for position, entry in enumerate(entries):
            if entry.index != index + 1 + position:
                raise WireFormatError("entries must be contiguous and follow the message index")
            if entry.term < previous_term or entry.term > term:
                raise WireFormatError("entry terms must be non-decreasing and not exceed the message term")
            previous_term = entry.term
    if kind == MessageType.APPEND and log_term > term:
        raise WireFormatError("log_term exceeds the message term")
    if kind == MessageType.SNAPSHOT:
        if snapshot is None:
            raise WireFormatError("SNAPSHOT message without a chunk")
        if snapshot.meta.term > term:
            raise WireFormatError("snapshot term exceeds the message term")
    elif snapshot is not None:
        raise WireFormatError(f"{MessageType(kind).name} must not carry a snapshot chunk")


def _int(value: Any, name: str) -> int:
    if type(value) is not int or value < 0 or value > _MAX_ID:
        raise WireFormatError(f"{name} must be a non-negative 64-bit int, got {value!r}")
    return value


def _node_id(value: Any, name: str) -> int:
    number = _int(value, name)
    if number == 0:
        raise WireFormatError(f"{name} must be a positive node id")
    return number


def _bytes(value: Any, name: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        raise WireFormatError(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value)


def _entry(raw: Any) -> Entry:
    if not isinstance(raw, (list, tuple)) or len(raw) != 4:
        raise WireFormatError("entry must be a 4-element array")
    kind = _int(raw[2], "entry kind")
    if kind not in EntryKind._value2member_map_:
        raise WireFormatError(f"unknown entry kind {kind}")
    index = _int(raw[1], "entry index")
    if index == 0:
        raise WireFormatError("entry index must be positive")
    data = _bytes(raw[3], "entry data")
    if kind == EntryKind.CONF_CHANGE:
        try:
            decode_conf_entry(data)
        except ValueError as error:
            raise WireFormatError(f"malformed membership change entry: {error}") from None
    return Entry(_int(raw[0], "entry term"), index, EntryKind(kind), data)


def _ids(raw: Any, name: str) -> frozenset[int]:
    if not isinstance(raw, (list, tuple)):
        raise WireFormatError(f"{name} must be an array")
    return frozenset(_node_id(item, name) for item in raw)


def _chunk(raw: Any) -> SnapshotChunk:
    if not isinstance(raw, (list, tuple)) or len(raw) != 7:
        raise WireFormatError("snapshot chunk must be a 7-element array")
    if not isinstance(raw[6], bool):
        raise WireFormatError("snapshot chunk 'done' must be a bool")
    conf = ConfState(_ids(raw[2], "voters"), _ids(raw[3], "learners"))
    meta = SnapshotMeta(_int(raw[0], "snapshot index"), _int(raw[1], "snapshot term"), conf)
    return SnapshotChunk(meta, _int(raw[4], "chunk offset"), _bytes(raw[5], "chunk data"), raw[6])
