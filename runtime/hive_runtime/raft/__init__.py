"""Hive's sans-I/O Raft consensus core (etcd-io/raft's design).

The node never touches sockets, clocks, threads or global randomness: a driver feeds it
messages and ticks and carries out each :class:`Ready`. See docs/raft.md for the contract.
"""

from hive_runtime.raft.config import RaftConfig, RandomSource
from hive_runtime.raft.errors import (
    CompactedError,
    ProposalDropped,
    RaftError,
    SafetyViolation,
    StorageError,
    UnavailableError,
    WireFormatError,
)
from hive_runtime.raft.messages import Message, MessageType, SnapshotChunk
from hive_runtime.raft.node import RaftNode
from hive_runtime.raft.ready import Ready, Status
from hive_runtime.raft.storage import MemoryStorage, Storage
from hive_runtime.raft.types import (
    ConfChange,
    ConfChangeKind,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    ReadState,
    Role,
    Snapshot,
    SnapshotMeta,
    SoftState,
    decode_conf_entry,
    encode_conf_entry,
)

__all__ = [
    "CompactedError",
    "ConfChange",
    "ConfChangeKind",
    "ConfState",
    "Entry",
    "EntryKind",
    "HardState",
    "MemoryStorage",
    "Message",
    "MessageType",
    "ProposalDropped",
    "RaftConfig",
    "RaftError",
    "RaftNode",
    "RandomSource",
    "ReadState",
    "Ready",
    "Role",
    "SafetyViolation",
    "Snapshot",
    "SnapshotChunk",
    "SnapshotMeta",
    "SoftState",
    "Status",
    "Storage",
    "StorageError",
    "UnavailableError",
    "WireFormatError",
    "decode_conf_entry",
    "encode_conf_entry",
]
