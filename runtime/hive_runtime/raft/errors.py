"""Exceptions raised by the Raft core, so drivers can tell refusals from corruption."""

from __future__ import annotations


class RaftError(Exception):
    """Base class of every error the core raises on purpose."""


class ProposalDropped(RaftError):
    """The node would not accept a request; ``leader_hint`` says where to retry, if known."""

    def __init__(self, reason: str, *, leader_hint: int | None) -> None:
        super().__init__(f"{reason} (leader hint: {leader_hint})")
        self.reason = reason
        self.leader_hint = leader_hint


class StorageError(RaftError):
    """Base class of errors a :class:`~hive_runtime.raft.storage.Storage` raises."""


class CompactedError(StorageError):
    """The requested index is older than the storage's snapshot."""


class UnavailableError(StorageError):
    """The requested index is beyond the storage's last entry."""


class SafetyViolation(RaftError):
    """The core detected that an invariant it relies on was broken (e.g. committed entry truncated)."""


class WireFormatError(RaftError, ValueError):
    """A message received from the network is malformed; the message must be dropped."""
