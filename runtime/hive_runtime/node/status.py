"""``GET /status``: the node's view of itself and the cluster, as the contract's ``StatusResponse``.

Constant time by construction: everything read here is a counter of the driver or Raft core, or a
value cached when it changed (certificate and CA fingerprint at TLS reload, secret hashes at
reload, digests when recorded, the transfer record); nothing serialises or hashes the state
(``tests/contract/test_status_is_constant_time.py`` holds it to that).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hive_runtime.contract import (
    CertificateInfo,
    CpuPlacement,
    DigestRecord,
    Member,
    MemberRole,
    NodeRole,
    PendingMembershipChange,
    SnapshotFormat,
    StatusResponse,
)
from hive_runtime.node import state as node_state

if TYPE_CHECKING:
    from hive_runtime.node.app import RuntimeNode

ENTRY_TAGS = {  # the envelopes node.state applies, by wire tag
    "trading": node_state.TRADING,
    "register": node_state.REGISTER,
    "batch": node_state.BATCH,
    "auditTick": node_state.AUDIT_TICK,
    "versions": node_state.VERSIONS,
}
ENTRY_TYPES = list(ENTRY_TAGS)
SNAPSHOT = SnapshotFormat(name=node_state.SNAPSHOT_FORMAT, version=node_state.SNAPSHOT_VERSION)


def stamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def members(node: RuntimeNode) -> list[Member]:
    status = node.driver.status()
    conf = status.conf_state
    leading = node.driver.is_leader
    return [
        Member(
            id=member,
            name=node.config.name_of(member),
            role=MemberRole.VOTER if member in conf.voters else MemberRole.LEARNER,
            match_index=status.match_index.get(member) if leading else None,
            last_activity=stamp(node.last_heard[member]) if member in node.last_heard else None,
        )
        for member in sorted(conf.members)
    ]


def _pending_change(node: RuntimeNode) -> PendingMembershipChange | None:
    core = node.driver.node
    pending = [(index, conf) for index, conf in core.conf_history[1:] if index > core.log.committed]
    if not pending:
        return None
    index, conf = pending[-1]
    return PendingMembershipChange(index=index, voters=sorted(conf.voters), learners=sorted(conf.learners))


def node_status(node: RuntimeNode) -> StatusResponse:
    """Everything here is a counter or a value cached when it changed: O(members), no hashing."""
    status = node.driver.status()
    certificate = node.tls.certificate
    latest = node.digests.latest()
    transfer = node.transfers.current
    cluster_version = node.cluster_version
    return StatusResponse(
        build_version=node.build_version,
        cluster_version=cluster_version,
        entry_types=ENTRY_TYPES,
        snapshot_format=SNAPSHOT,
        node_id=status.node_id,
        name=node.config.member_name,
        role=NodeRole(status.role.value),
        term=status.term,
        leader=status.leader_id,
        leader_name=node.config.name_of(status.leader_id) if status.leader_id else None,
        commit_index=status.commit,
        applied_index=node.driver.applied_index,
        snapshot_index=node.driver.snapshot_index,
        last_log_index=status.last_index,
        members=members(node),
        pending_membership_change=_pending_change(node),
        leadership_transfer=transfer.to_contract() if transfer is not None else None,
        started_at=stamp(node.started_at),
        cpu=CpuPlacement(
            cpuset=node.pinning.get("cpuset"),
            pinned=bool(node.pinning.get("pinned", False)),
            pinned_core=node.pinning.get("core"),
            reason=str(node.pinning.get("reason", "")),
        ),
        certificate=CertificateInfo(
            serial=format(certificate.serial_number, "x"), not_after=certificate.not_valid_after_utc
        ),
        ca_bundle_fingerprint=node.tls.ca_fingerprint,
        secrets=node.secrets.item_hashes if node.secrets is not None else {},
        secrets_hash=node.secrets.versions_hash if node.secrets is not None else None,
        ready=node.is_ready(),
        digest_interval=node.digests.interval,
        risk_defaults_hash=node.state.trading.engine.risk_defaults_hash,
        latest_digest=DigestRecord(index=latest.index, digest=latest.digest, reason=latest.reason)
        if latest is not None
        else None,
    )
