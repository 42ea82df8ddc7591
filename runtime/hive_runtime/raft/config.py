"""Configuration of one Raft node and the injected randomness protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class RandomSource(Protocol):
    """The only source of randomness the core uses (e.g. a seeded ``random.Random``)."""

    def randint(self, a: int, b: int) -> int:
        """Return an int N with a <= N <= b."""
        ...


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

    def __post_init__(self) -> None:
        if self.node_id <= 0:
            raise ValueError("node ids are positive integers")
        if self.heartbeat_ticks <= 0 or self.election_ticks <= self.heartbeat_ticks:
            raise ValueError("need 0 < heartbeat_ticks < election_ticks")
        if self.max_entries_per_message <= 0 or self.snapshot_chunk_bytes <= 0:
            raise ValueError("message and chunk limits must be positive")
