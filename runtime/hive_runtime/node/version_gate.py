"""The node's side of cluster versions: advertise, learn, propose, gate, and refuse to run too old.

Every outbound peer connection opens with a ``hello`` frame naming the node and its build version
(:meth:`VersionGate.hello`); the peer server records it when the certificate's name is that
node's (:meth:`VersionGate.on_hello`). Since every member answers the leader on a connection of
its own, the leader hears from each member it replicates to. While it leads and knows the version
of every current member, :meth:`VersionGate.propose_if_needed` proposes a ``VERSIONS`` entry
whenever those versions differ from the replicated ones (membership changed, a member restarted on
another build). :meth:`VersionGate.admits` is the gate every proposer of a newer entry type asks
(the audit sealer, the risk-defaults endpoint, the client port for operator commands).

:meth:`VersionGate.check_not_older` runs after every apply and at start: a node whose build is
older than the replicated ``clusterVersion`` stops with that message instead of meeting entries
it cannot apply.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from hive_runtime.node.driver import NotLeader, RaftDriver
from hive_runtime.node.state import NodeStateMachine
from hive_runtime.node.versions import ClusterVersionState, older_than_cluster, versions_entry

log = logging.getLogger(__name__)

MAX_VERSION_TEXT = 64


class ClusterVersionTooNew(RuntimeError):
    """This build is older than the replicated ``clusterVersion``: it must not go on applying."""


class VersionGate:
    """One per node; ``run`` proposes on the leader, the rest are called by the node's glue."""

    def __init__(
        self,
        *,
        node_id: int,
        build_version: str,
        driver: RaftDriver,
        state: NodeStateMachine,
        name_of: Callable[[int], str],
        sleep: Callable[[float], Awaitable[None]],
        interval: float = 0.2,
    ) -> None:
        self.node_id = node_id
        self.build_version = build_version
        self._driver = driver
        self._state = state
        self._name_of = name_of
        self._sleep = sleep
        self.interval = interval
        self.known: dict[int, str] = {node_id: build_version}
        self._in_flight = False
        self.proposed = 0

    @property
    def replicated(self) -> ClusterVersionState:
        return self._state.versions  # read each time: a snapshot restore replaces its contents

    @property
    def cluster_version(self) -> str | None:
        return self.replicated.cluster_version

    def admits(self, entry_type: str) -> bool:
        return self.replicated.admits(entry_type)

    # -- advertising ------------------------------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        return {"node": self.node_id, "version": self.build_version}

    def on_hello(self, certificate_name: str, payload: Any) -> bool:
        """Record a peer's version; False (ignored) unless the payload is well formed and the
        connection's certificate is that node's."""
        if not isinstance(payload, dict):
            return False
        node, version = payload.get("node"), payload.get("version")
        if type(node) is not int or node < 1 or node == self.node_id:
            return False
        if not isinstance(version, str) or not 0 < len(version) <= MAX_VERSION_TEXT:
            return False
        if self._name_of(node) != certificate_name:
            log.warning("hello for node %s from certificate %s ignored", node, certificate_name)
            return False
        if self.known.get(node) != version:
            log.info("member %s runs %s", self._name_of(node), version)
        self.known[node] = version
        return True

    # -- proposing ---------------------------------------------------------------------------------
    def propose_if_needed(self) -> bool:
        """On the leader: propose a ``VERSIONS`` entry if the current members' versions, all known,
        differ from the replicated ones. One in flight at most; True if it proposed."""
        if self._in_flight or not self._driver.is_leader:
            return False
        members = self._driver.node.conf.members
        wanted = self.replicated.wanted(self.known, members)
        if wanted is None:
            return False
        entry = versions_entry(wanted, self.replicated.next_cluster_version(wanted))
        try:
            self._driver.propose_with(entry, self._settled)
        except NotLeader:
            return False
        self._in_flight = True
        self.proposed += 1
        return True

    def _settled(self, outcome: bytes | None, error: BaseException | None) -> None:
        self._in_flight = False
        if error is not None:
            log.info("versions entry not applied (%s); the next check proposes another", error)

    async def run(self) -> None:
        while True:
            await self._sleep(self.interval)
            self.propose_if_needed()

    # -- refusing --------------------------------------------------------------------------------
    def check_not_older(self) -> None:
        cluster = self.cluster_version
        if older_than_cluster(self.build_version, cluster):
            raise ClusterVersionTooNew(
                f"this build ({self.build_version}) is older than the cluster version ({cluster}): "
                "the log may hold entries it cannot apply; run a build of at least that version"
            )
