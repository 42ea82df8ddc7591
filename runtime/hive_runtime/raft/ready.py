"""The :class:`Ready` batch a node hands to its driver, and the node's observable :class:`Status`.

Contract (see docs/raft.md), for each Ready in order:

1. persist ``snapshot`` (if any), then append ``entries`` (replacing any conflicting suffix),
   then write ``hard_state`` (if any) and fsync;
2. only then send ``messages`` (they may promise what step 1 persisted: votes, acks);
3. restore the state machine from ``snapshot`` (if any), then apply ``committed_entries`` in
   order, and serve ``read_states`` once the applied index reaches their index;
4. call ``node.advance(ready)``. No other Ready is produced before that.
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
    committed_entries: tuple[Entry, ...] = ()
    read_states: tuple[ReadState, ...] = ()

    @property
    def must_sync(self) -> bool:
        """True when something must be fsynced before ``messages`` may be sent."""
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
