"""Asking the runtime pods about themselves: ``GET /status`` of each pod's admin API over mutual
TLS, turned into the planner's :class:`~hive_operator.plan.MemberReport`.

The operator presents the client certificate from the ``<cluster>-operator-tls`` Secret (read by
the Kubernetes layer with the other children); the key is written to a private temporary
directory only long enough for OpenSSL to load it. Every pod is asked at once with a bounded
timeout; a pod that does not answer (or answers something the contract does not allow) is left
out and named in ``unreachable``: it never fails the reconcile. Match indexes are the leader's
view, the only one that has them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hive_operator.plan import LeaderView, MemberReport
from hive_runtime.contract.client import AdminClient, AdminError, client_context
from hive_runtime.contract.models import MemberRole, RiskDefaults, RiskDefaultsResponse, StatusResponse

ADMIN_PORT = 7300
TLS_KEYS = ("ca.crt", "tls.crt", "tls.key")


@dataclass
class Collected:
    reports: dict[str, MemberReport] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)  # pod -> why (no secret values)
    addresses: dict[str, str] = field(default_factory=dict)  # pod -> IP of every pod asked
    leader_view: LeaderView | None = None  # the configuration as the leader reports it
    context: ssl.SSLContext | None = None  # the operator's client context, when it had one


def tls_context(secret: Mapping[str, Any], *, namespace: str, cluster: str) -> ssl.SSLContext | None:
    """The admin client context from the operator-tls Secret as read from the API (None: incomplete)."""
    data = secret.get("data") or {}
    if any(key not in data for key in TLS_KEYS):
        return None
    with tempfile.TemporaryDirectory(prefix="hive-operator-tls-") as directory:
        paths = {}
        for key in TLS_KEYS:
            path = Path(directory) / key
            path.touch(mode=0o600)
            path.write_bytes(base64.b64decode(data[key]))
            paths[key] = path
        return client_context(
            ca=paths["ca.crt"],
            cert=paths["tls.crt"],
            key=paths["tls.key"],
            namespace=namespace,
            cluster=cluster,
        )


class ContextCache:
    """One client context per version of the operator-tls Secret (rebuilt when it rotates)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[str, ssl.SSLContext]] = {}

    def get(self, secret: Mapping[str, Any], *, namespace: str, cluster: str) -> ssl.SSLContext | None:
        data = secret.get("data") or {}
        version = hashlib.sha256("\0".join(str(data.get(k, "")) for k in TLS_KEYS).encode()).hexdigest()
        cached = self._cache.get((namespace, cluster))
        if cached is not None and cached[0] == version:
            return cached[1]
        context = tls_context(secret, namespace=namespace, cluster=cluster)
        if context is not None:
            self._cache[(namespace, cluster)] = (version, context)
        return context

    def forget(self, namespace: str, cluster: str) -> None:
        self._cache.pop((namespace, cluster), None)


def report_of(pod: str, status: StatusResponse, leader: StatusResponse | None) -> MemberReport:
    own = next((m for m in status.members if m.id == status.node_id), None)
    match_index = None
    if leader is not None:
        seen = next((m for m in leader.members if m.id == status.node_id), None)
        match_index = seen.match_index if seen is not None else None
    return MemberReport(
        pod=pod,
        node_id=status.node_id,
        role=status.role.value,
        voter=own is not None and own.role is MemberRole.VOTER,
        term=status.term,
        version=status.build_version,
        ready=status.ready,
        cpuset=status.cpu.cpuset,
        pinned=status.cpu.pinned,
        pinning_reason=status.cpu.reason,
        match_index=match_index,
        certificate_serial=status.certificate.serial,
        ca_bundle_fingerprint=status.ca_bundle_fingerprint,
        secret_hashes=dict(status.secrets),
        risk_defaults_hash=status.risk_defaults_hash,
    )


async def collect(
    pods: Sequence[tuple[str, str]], *, context: ssl.SSLContext, each_seconds: float = 3.0
) -> Collected:
    """Ask every ``(pod name, pod IP)`` for its status, at once, each within ``each_seconds``."""
    statuses: dict[str, StatusResponse] = {}
    result = Collected(addresses=dict(pods), context=context)

    async def ask(pod: str, address: str) -> None:
        try:
            async with asyncio.timeout(each_seconds + 1):
                async with AdminClient(
                    f"https://{address}:{ADMIN_PORT}", context=context, timeout=each_seconds
                ) as admin:
                    statuses[pod] = await admin.status()
        except (AdminError, OSError, TimeoutError) as error:
            result.unreachable[pod] = type(error).__name__

    async with asyncio.TaskGroup() as group:
        for pod, address in pods:
            group.create_task(ask(pod, address))
    leaders = [s for s in statuses.values() if s.role.value == "leader"]
    leader = max(leaders, key=lambda s: s.term) if leaders else None
    result.reports = {pod: report_of(pod, status, leader) for pod, status in statuses.items()}
    leader_pod = next((pod for pod, status in statuses.items() if status is leader), None)
    if leader is not None and leader_pod is not None:
        result.leader_view = leader_view_of(leader_pod, leader)
    return result


def leader_view_of(pod: str, leader: StatusResponse) -> LeaderView:
    return LeaderView(
        leader=pod,
        commit_index=leader.commit_index,
        voters=frozenset(m.id for m in leader.members if m.role is MemberRole.VOTER),
        learners=frozenset(m.id for m in leader.members if m.role is MemberRole.LEARNER),
        match_index={m.id: m.match_index for m in leader.members if m.match_index is not None},
        change_pending=leader.pending_membership_change is not None,
    )


async def send_risk_defaults(
    address: str, defaults: RiskDefaults, *, context: ssl.SSLContext, seconds: float = 5.0
) -> RiskDefaultsResponse:
    """``PUT /risk/defaults`` on the leader at ``address``; answers once the leader applied them."""
    async with asyncio.timeout(seconds + 1):
        async with AdminClient(f"https://{address}:{ADMIN_PORT}", context=context, timeout=seconds) as admin:
            return await admin.set_risk_defaults(defaults)


async def change_membership(
    address: str, step: str, node_id: int, *, context: ssl.SSLContext, seconds: float = 5.0
) -> None:
    """One membership step on the leader at ``address`` (see ``ChangeMembership``)."""
    async with asyncio.timeout(seconds + 1):
        async with AdminClient(f"https://{address}:{ADMIN_PORT}", context=context, timeout=seconds) as admin:
            if step == "add":
                await admin.add_learner(node_id)
            elif step == "promote":
                await admin.promote(node_id)
            elif step == "remove":
                await admin.remove(node_id)
            elif step == "transfer":
                await admin.transfer_leadership(wait_seconds=min(seconds, 5.0))
            else:
                raise ValueError(f"unknown membership step {step!r}")
