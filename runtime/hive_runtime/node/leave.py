"""Graceful leave: what a node does between SIGTERM and exit.

A leader that simply exits leaves the cluster without a leader for an election timeout (followers
must first notice the silence). So on SIGTERM a leader hands leadership to its most caught-up
voter (§3.10: catch it up, then TimeoutNow, so the target campaigns at once and wins without
waiting for a timeout) and waits, at most ``shutdown.transfer_timeout_seconds``, until another
node leads; then it exits. Acknowledged writes are safe either way (they are on a majority's
disks); writes in flight on the old leader are answered ``unknown_outcome`` when it steps down,
and clients retry them on the new leader. Followers and learners have nothing to hand over and
exit at once. The pod's grace period is the timeout plus a margin (the operator renders both).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hive_runtime.contract.models import TransferOutcome
from hive_runtime.node.driver import NotLeader

if TYPE_CHECKING:
    from hive_runtime.node.app import RuntimeNode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaveReport:
    was_leader: bool
    target: int | None
    outcome: str  # "notLeader", "noTarget", "refused" or a TransferOutcome value
    new_leader: int | None
    seconds: float


async def leave(node: RuntimeNode) -> LeaveReport:
    """Hand leadership over if this node leads (bounded wait); return what happened."""
    started = time.monotonic()

    def report(outcome: str, *, target: int | None = None, new_leader: int | None = None) -> LeaveReport:
        done = LeaveReport(
            was_leader=outcome != "notLeader",
            target=target,
            outcome=outcome,
            new_leader=new_leader,
            seconds=time.monotonic() - started,
        )
        log.info(
            "node %s leaving: %s (target %s, new leader %s) after %.3f s",
            node.config.member_name, done.outcome, target, new_leader, done.seconds,
        )  # fmt: skip
        return done

    if not node.driver.is_leader:
        return report("notLeader")
    target = node.best_transfer_target()
    if target is None:
        return report("noTarget")
    try:
        node.driver.transfer_leadership(target)
    except (NotLeader, ValueError) as error:
        log.info("leadership transfer on leave refused: %s", error)
        return report("refused", target=target)
    record = node.transfers.start(target)
    finished = await node.transfers.wait(record.id, within=node.config.shutdown.transfer_timeout_seconds)
    final = finished if finished is not None else record
    outcome = final.outcome.value if final.outcome is not TransferOutcome.PENDING else "timedOut"
    return report(outcome, target=target, new_leader=final.new_leader)
