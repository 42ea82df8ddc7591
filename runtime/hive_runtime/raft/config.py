"""Configuration of one Raft node, the injected randomness protocol and the test-only planted bugs."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol


class RandomSource(Protocol):
    """The only source of randomness the core uses (e.g. a seeded ``random.Random``)."""

    def randint(self, a: int, b: int) -> int:
        """Return an int N with a <= N <= b."""
        ...


class PlantedBug(Enum):
    """TEST-ONLY deliberate protocol bugs proving the simulator catches them.

    Never set these in production configuration; :class:`RaftConfig` leaves them empty.
    """

    COMMIT_OLD_TERM_BY_COUNTING = "commit-old-term-by-counting"  # breaks §5.4.2
    SKIP_PERSIST_VOTE = "skip-persist-vote"  # breaks §5.2 / Figure 2 "persistent state"
    GRANT_TWO_VOTES = "grant-two-votes"  # breaks §5.2 election safety
    APPLY_BEFORE_COMMIT = "apply-before-commit"  # breaks §5.3 / state machine safety


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """Static parameters of a node. Times are in ticks; the driver decides how long a tick is."""

    node_id: int
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_entries_per_message: int = 64
    snapshot_chunk_bytes: int = 64 * 1024
    # Send every follower an append as soon as the commit index moves (etcd's behaviour). Off,
    # followers learn it with the next append or heartbeat: fewer messages on the commit path,
    # at the cost of followers applying up to a heartbeat later.
    broadcast_commit: bool = True
    # TEST-ONLY: bugs to plant; see PlantedBug.
    planted_bugs: frozenset[PlantedBug] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.node_id <= 0:
            raise ValueError("node ids are positive integers")
        if self.heartbeat_ticks <= 0 or self.election_ticks <= self.heartbeat_ticks:
            raise ValueError("need 0 < heartbeat_ticks < election_ticks")
        if self.max_entries_per_message <= 0 or self.snapshot_chunk_bytes <= 0:
            raise ValueError("message and chunk limits must be positive")
