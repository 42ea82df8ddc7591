"""Checkpointing a quiet audit trail, so that no record stays unsigned for long.

The audit chain checkpoints after every N records or when the checkpoint interval of *command
time* has passed, and command time only moves when commands arrive. Without help, the records
after the last checkpoint of a quiet market stay covered by the hash chain alone, and cutting
them off a trail file would go unnoticed. So the leader watches its replica's chain and, when
some records are not covered by a checkpoint and the interval has passed on its clock, proposes
an ``AUDIT_TICK`` entry carrying that time (:func:`~hive_runtime.node.state.audit_tick_entry`).
Every replica applies it and emits the same checkpoint, which each signs in its own trail.

An ``AUDIT_TICK`` is an entry type newer than the base set: the sealer proposes one only when the
replicated ``clusterVersion`` admits it (``admitted``, :mod:`hive_runtime.node.version_gate`), so
a replica of the release before never meets one.

The decision is :meth:`~hive_runtime.audit.chain.AuditChain.idle_checkpoint_due`, the same rule
the replicas apply; :class:`AuditSealer` is the glue the node runs. Every check on the leader that
finds a tick due is counted by outcome (``counted``, the node's ``hive_audit_ticks_total``):
``proposed``, or ``held`` because ``clusterVersion`` does not admit ticks yet (a mixed-version
cluster during an upgrade: the trail's tail stays unsigned until every member runs the release).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from hive_runtime.audit.chain import AuditChain
from hive_runtime.node.driver import NotLeader, RaftDriver
from hive_runtime.node.state import audit_tick_entry

log = logging.getLogger(__name__)


class AuditSealer:
    """Proposes an audit tick on the leader when one would checkpoint something; one in flight at most."""

    def __init__(
        self,
        *,
        driver: RaftDriver,
        chain: Callable[[], AuditChain],
        timestamp_us: Callable[[], int],
        sleep: Callable[[float], Awaitable[None]],
        admitted: Callable[[], bool] = lambda: True,
        counted: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self._driver = driver
        self._admitted = admitted
        self._counted = counted
        self._chain = chain  # read each time: a snapshot restore replaces the chain object
        self._timestamp_us = timestamp_us
        self._sleep = sleep
        self._in_flight = False
        self.ticks_proposed = 0
        self.ticks_held = 0

    @property
    def in_flight(self) -> bool:
        """A tick was proposed and has not been applied (or refused) yet."""
        return self._in_flight

    def propose_if_due(self) -> bool:
        """Propose one audit tick if this node leads and one is due; True if it did."""
        if self._in_flight or not self._driver.is_leader:
            return False
        now = self._timestamp_us()
        if not self._chain().idle_checkpoint_due(now):
            return False
        if not self._admitted():
            self.ticks_held += 1
            self._counted("held")
            return False
        try:
            self._driver.propose_with(audit_tick_entry(now), self._settled)
        except NotLeader:
            return False
        self._in_flight = True
        self.ticks_proposed += 1
        self._counted("proposed")
        return True

    def _settled(self, outcome: bytes | None, error: BaseException | None) -> None:
        self._in_flight = False
        if error is not None:
            log.info("audit tick not applied (%s); the next check proposes another", error)

    async def run(self) -> None:
        """Check every half interval, forever."""
        while True:
            await self._sleep(self._chain().interval_us / 2e6)
            self.propose_if_due()
