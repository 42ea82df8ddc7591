"""The :class:`Ready` batch a node hands to its driver, and the node's observable :class:`Status`.

Contract (see docs/raft.md), for each Ready:

1. persist ``snapshot`` (if any), then append ``entries`` (replacing any conflicting suffix),
   then write ``hard_state`` (if any) and fsync;
2. ``early_messages`` (a leader's appends, heartbeats and snapshot chunks) may be sent at any
   time, also before or during step 1: the leader counts its own entries toward a commit only
   after ``advance`` reports them durable, so nothing they carry depends on step 1;
3. ``messages`` only after step 1 (they may promise what it persisted: votes, acks);
4. restore the state machine from ``snapshot`` (if any), then apply ``committed_entries`` in
   order, and serve ``read_states`` once the applied index reaches their index. This may also
   happen before step 1 finishes: a committed entry is already durable on a majority;
5. call ``node.advance(ready)`` once all of that is done. No other Ready is produced before
   that; ``step`` and ``tick`` may be called meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hive_runtime.raft.messages import Message
from hive_runtime.raft.types import ConfState, Entry, HardState, ReadState, Role, Snapshot, SoftState


@dataclass(frozen=True, slots=True)
class Ready:
    """Everything the driver must persist, send and apply, in the order documented above."""

    soft_state: SoftState
    hard_state: HardState | None = None
    entries: tuple[Entry, ...] = ()
    snapshot: Snapshot | None = None
    messages: tuple[Message, ...] = ()
    early_messages: tuple[Message, ...] = ()
    committed_entries: tuple[Entry, ...] = ()
    read_states: tuple[ReadState, ...] = ()

    @property
    def all_messages(self) -> tuple[Message, ...]:
        """``early_messages`` then ``messages`` (for drivers that send everything after the fsync)."""
        return self.early_messages + self.messages

    @property
    def must_sync(self) -> bool:
        """True when something must be fsynced before ``messages`` may be sent and before
        :meth:`RaftNode.advance`."""
        return self.hard_state is not None or bool(self.entries) or self.snapshot is not None


@dataclass(frozen=True, slots=True)
class Status:
    """A point-in-time view of a node for status endpoints and tests."""

    node_id: int
    term: int
    vote: int | None
    role: Role
    leader_id: int | None
    commit: int
    applied: int
    last_index: int
    conf_state: ConfState
    match_index: dict[int, int] = field(default_factory=dict)
