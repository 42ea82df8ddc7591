"""The leader's per-follower replication progress (etcd's ``Progress``, thesis §3.5).

A follower is probed one message at a time until its match index is known, then replicated
to optimistically; a follower whose needed entries were compacted is sent a snapshot.
"""

from __future__ import annotations

from enum import Enum

from hive_runtime.raft.types import Snapshot


class ProgressState(Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Progress:
    """What the leader knows about one follower's log."""

    __slots__ = (
        "is_learner",
        "match",
        "next",
        "paused",
        "recent_active",
        "snapshot",
        "snapshot_offset",
        "state",
    )

    def __init__(self, *, next_index: int, is_learner: bool) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.paused = False
        self.recent_active = False
        self.is_learner = is_learner
        self.snapshot: Snapshot | None = None
        self.snapshot_offset = 0

    def become_probe(self) -> None:
        if self.state is ProgressState.SNAPSHOT and self.snapshot is not None:
            self.next = max(self.match + 1, self.snapshot.meta.index + 1)
        else:
            self.next = self.match + 1
        self.state = ProgressState.PROBE
        self.paused = False
        self.snapshot = None
        self.snapshot_offset = 0

    def become_replicate(self) -> None:
        self.state = ProgressState.REPLICATE
        self.next = self.match + 1
        self.paused = False
        self.snapshot = None

    def become_snapshot(self, snapshot: Snapshot) -> None:
        self.state = ProgressState.SNAPSHOT
        self.snapshot = snapshot
        self.snapshot_offset = 0
        self.paused = False

    def maybe_update(self, index: int) -> bool:
        """Record an acknowledgement up to ``index``; False if it is stale."""
        updated = index > self.match
        if updated:
            self.match = index
            self.paused = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decrease_to(self, rejected: int, match_hint: int) -> bool:
        """Handle a rejected append of ``rejected`` using the follower's hint (§5.3 optimisation)."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False  # stale rejection
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False  # stale rejection of an earlier probe
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.paused = False
        return True

    def is_paused(self) -> bool:
        if self.state is ProgressState.PROBE:
            return self.paused
        return self.state is ProgressState.SNAPSHOT

    def __repr__(self) -> str:
        return f"Progress(match={self.match}, next={self.next}, state={self.state.value})"
