"""Leadership transfers the admin API started, and how each ended.

``POST /leadership/transfer`` asks the Raft core to hand leadership over (§3.10: catch the target
up, then TimeoutNow) and answers at once with a transfer id, or waits a bounded time for the
outcome. :class:`TransferTracker` decides the outcome from what the node observes (pure: the node
feeds it its role, leader and the core's pending transferee on every tick):

- ``succeeded``: this node sees the target as leader;
- ``failed``: another node became leader, or ``give_up_after`` passed with no leader known;
- ``timedOut``: this node is still leader and the core dropped the transfer (an election timeout
  passed without the target taking over).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from hive_runtime.contract.models import LeadershipTransfer, TransferOutcome


@dataclass(frozen=True, slots=True)
class TransferRecord:
    id: int
    target: int
    started_at: float  # wall clock, seconds
    outcome: TransferOutcome = TransferOutcome.PENDING
    finished_at: float | None = None
    new_leader: int | None = None
    detail: str = "catching the target up, then TimeoutNow"

    def to_contract(self) -> LeadershipTransfer:
        def stamp(seconds: float) -> datetime:
            return datetime.fromtimestamp(seconds, tz=UTC)

        return LeadershipTransfer(
            id=self.id,
            target=self.target,
            started_at=stamp(self.started_at),
            outcome=self.outcome,
            finished_at=stamp(self.finished_at) if self.finished_at is not None else None,
            new_leader=self.new_leader,
            detail=self.detail,
        )


class TransferTracker:
    """The most recent transfer and its outcome; ``wait`` lets a caller block on it (bounded)."""

    def __init__(self, *, give_up_after: float, clock: Callable[[], float] = time.time) -> None:
        self.give_up_after = give_up_after
        self._clock = clock
        self._next_id = 1
        self.current: TransferRecord | None = None
        self._finished = asyncio.Event()

    def start(self, target: int) -> TransferRecord:
        """Record a new transfer (or return the pending one to the same target)."""
        current = self.current
        if current is not None and current.outcome is TransferOutcome.PENDING and current.target == target:
            return current
        self.current = TransferRecord(id=self._next_id, target=target, started_at=self._clock())
        self._next_id += 1
        self._finished = asyncio.Event()
        return self.current

    def observe(self, *, is_leader: bool, leader_id: int | None, transferee: int | None) -> None:
        current = self.current
        if current is None or current.outcome is not TransferOutcome.PENDING:
            return
        now = self._clock()
        if leader_id == current.target:
            self._finish(TransferOutcome.SUCCEEDED, leader_id, f"node {leader_id} is leader", now)
        elif is_leader and transferee != current.target:
            self._finish(
                TransferOutcome.TIMED_OUT,
                leader_id,
                "an election timeout passed; this node is still leader",
                now,
            )
        elif not is_leader and leader_id is not None:
            self._finish(TransferOutcome.FAILED, leader_id, f"node {leader_id} became leader instead", now)
        elif now - current.started_at > self.give_up_after:
            self._finish(TransferOutcome.FAILED, leader_id, "no leader emerged in time", now)

    def _finish(self, outcome: TransferOutcome, leader: int | None, detail: str, now: float) -> None:
        assert self.current is not None
        self.current = replace(
            self.current, outcome=outcome, finished_at=now, new_leader=leader, detail=detail
        )
        self._finished.set()

    async def wait(self, transfer_id: int, *, within: float) -> TransferRecord | None:
        """The record of ``transfer_id`` once finished or after ``within`` seconds (pending then)."""
        current = self.current
        if current is None or current.id != transfer_id:
            return None
        if current.outcome is TransferOutcome.PENDING and within > 0:
            try:
                async with asyncio.timeout(within):
                    await self._finished.wait()
            except TimeoutError:
                pass
        current = self.current
        return current if current is not None and current.id == transfer_id else None
