"""Plain value types of the Raft core: log entries, hard/soft state, membership and snapshots.

They live apart from the node so that storage, the wire codec and drivers can use them without
pulling in the protocol logic. Everything here is immutable and free of I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class EntryKind(IntEnum):
    """What a log entry carries: client data, a membership change, or the leader's no-op."""

    NORMAL = 0
    CONF_CHANGE = 1
    NO_OP = 2


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry. ``data`` is opaque to Raft except for ``CONF_CHANGE`` entries."""

    term: int
    index: int
    kind: EntryKind = EntryKind.NORMAL
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    """State that must be on stable storage before any message depending on it is sent (§5.1)."""

    term: int = 0
    vote: int | None = None
    commit: int = 0


class Role(Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state a driver wants to observe (not persisted)."""

    leader_id: int | None
    role: Role


class ConfChangeKind(IntEnum):
    ADD_VOTER = 0
    ADD_LEARNER = 1
    REMOVE = 2


@dataclass(frozen=True, slots=True)
class ConfChange:
    """A single-server membership change (thesis §4.1): add a voter/learner or remove a node."""

    kind: ConfChangeKind
    node_id: int

    def encode(self) -> bytes:
        return bytes([int(self.kind)]) + self.node_id.to_bytes(8, "big", signed=False)

    @classmethod
    def decode(cls, data: bytes) -> ConfChange:
        if len(data) != 9 or data[0] > max(ConfChangeKind):
            raise ValueError(f"malformed conf change payload of {len(data)} bytes")
        return cls(ConfChangeKind(data[0]), int.from_bytes(data[1:], "big", signed=False))


@dataclass(frozen=True, slots=True)
class ConfState:
    """Cluster membership: voters count towards quorums, learners only receive the log."""

    voters: frozenset[int] = frozenset()
    learners: frozenset[int] = frozenset()

    @property
    def members(self) -> frozenset[int]:
        return self.voters | self.learners

    def apply(self, change: ConfChange) -> ConfState:
        """The membership after ``change``; drivers use this to track the config at an index."""
        node = change.node_id
        if change.kind is ConfChangeKind.ADD_VOTER:
            return ConfState(self.voters | {node}, self.learners - {node})
        if change.kind is ConfChangeKind.ADD_LEARNER:
            return ConfState(self.voters - {node}, self.learners | {node})
        return ConfState(self.voters - {node}, self.learners - {node})


def encode_conf_entry(change: ConfChange, result: ConfState) -> bytes:
    """Payload of a CONF_CHANGE entry: the change plus the full membership it produces.

    Carrying the full result lets a node that joins with an empty log learn the membership from
    any single config entry, without knowing how the cluster was bootstrapped.
    """
    parts = [change.encode(), len(result.voters).to_bytes(4, "big")]
    parts.extend(node.to_bytes(8, "big") for node in sorted(result.voters))
    parts.append(len(result.learners).to_bytes(4, "big"))
    parts.extend(node.to_bytes(8, "big") for node in sorted(result.learners))
    return b"".join(parts)


def decode_conf_entry(data: bytes) -> tuple[ConfChange, ConfState]:
    """Inverse of :func:`encode_conf_entry`; raises ValueError on malformed payloads."""
    change = ConfChange.decode(data[:9])
    voters, offset = _decode_ids(data, 9)
    learners, offset = _decode_ids(data, offset)
    if offset != len(data):
        raise ValueError("trailing bytes in conf change payload")
    return change, ConfState(voters, learners)


def _decode_ids(data: bytes, offset: int) -> tuple[frozenset[int], int]:
    if len(data) < offset + 4:
        raise ValueError("truncated conf change payload")
    count = int.from_bytes(data[offset : offset + 4], "big")
    end = offset + 4 + 8 * count
    if len(data) < end:
        raise ValueError("truncated conf change payload")
    ids = frozenset(int.from_bytes(data[i : i + 8], "big") for i in range(offset + 4, end, 8))
    return ids, end


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """Where a snapshot sits in the log and the membership as of that index."""

    index: int = 0
    term: int = 0
    conf_state: ConfState = ConfState()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A state-machine image covering the log up to ``meta.index``; ``data`` is the driver's."""

    meta: SnapshotMeta = SnapshotMeta()
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class ReadState:
    """A confirmed ReadIndex (§6.4): serve the read for ``context`` once applied >= ``index``."""

    index: int
    context: bytes
