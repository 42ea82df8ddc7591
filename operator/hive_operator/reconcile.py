"""One reconcile of one HiveCluster: read, ask the runtime, plan, write. No kopf here.

The kopf handlers (:mod:`hive_operator.handlers`) call :meth:`Reconciler.reconcile` on create,
update, resume and from a timer; this module ties the Kubernetes layer (:mod:`hive_operator.kube`),
the member collector (:mod:`hive_operator.members`) and the pure planner together. The
HiveCluster is read fresh here rather than taken from the watch event, so a status the previous
reconcile wrote is always seen and never written twice. One lock per cluster keeps a timer
and an event handler from reconciling the same cluster at once. Time comes from the injected
clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hive_operator.api import HiveCluster, HiveClusterStatus
from hive_operator.api.placement import RetentionPolicy
from hive_operator.api.security import TlsMode
from hive_operator.kube.act import Writes, perform, post_event
from hive_operator.kube.client import KubeApi, NotFound
from hive_operator.kube.observe import (
    available_kinds,
    read_children,
    read_cluster,
    read_config_map_key,
    read_issued_secrets,
    read_referenced_secret_keys,
)
from hive_operator.kube.resources import resource
from hive_operator.members import Collected, ContextCache, change_membership, collect, send_risk_defaults
from hive_operator.metrics import OperatorMetrics
from hive_operator.plan import ChangeMembership, Event, Observed, Plan, SetRiskDefaults, plan
from hive_operator.specs import OperatorContext, names_of, selector_labels
from hive_operator.specs.certmanager import expected_certificates
from hive_runtime.contract.client import AdminError

log = logging.getLogger("hive_operator.reconcile")


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    writes: Writes
    unreachable: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> HiveClusterStatus:
        return self.plan.status


class Reconciler:
    def __init__(
        self,
        api: KubeApi,
        *,
        context: OperatorContext,
        clock: Callable[[], datetime],
        reporter: str,
        metrics: OperatorMetrics | None = None,
        member_timeout: float = 3.0,
        max_concurrent: int = 4,
    ) -> None:
        self.api = api
        self.context = context
        self.clock = clock
        self.reporter = reporter
        self.metrics = metrics or OperatorMetrics()
        self.member_timeout = member_timeout
        self._contexts = ContextCache()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        # At most this many reconciles at once (controller-runtime's MaxConcurrentReconciles): a
        # burst of clusters waits its turn instead of slowing every reconcile down together.
        self._workers = asyncio.Semaphore(max_concurrent)

    def _lock(self, namespace: str, name: str) -> asyncio.Lock:
        return self._locks.setdefault((namespace, name), asyncio.Lock())

    async def _members(
        self,
        cluster: HiveCluster,
        objects: dict[tuple[str, str], dict[str, Any]],
        issued: dict[str, dict[str, Any]],
    ) -> Collected:
        names = names_of(cluster)
        # The operator's client certificate: its own PKI's Secret, or cert-manager's.
        secret = objects.get(("Secret", names.operator_tls_secret)) or issued.get(names.operator_tls_secret)
        pods = [obj for (kind, _), obj in sorted(objects.items(), key=lambda item: item[0]) if kind == "Pod"]
        targets, missing = [], {}
        for pod in pods:
            name, address = pod["metadata"]["name"], pod.get("status", {}).get("podIP")
            if pod["metadata"].get("deletionTimestamp"):
                missing[name] = "Terminating"
            elif address:
                targets.append((name, address))
            else:
                missing[name] = "NoPodIP"
        context = (
            self._contexts.get(secret, namespace=names.namespace, cluster=names.cluster) if secret else None
        )
        if context is None:
            return Collected(unreachable={name: "NoOperatorCertificate" for name, _ in targets} | missing)
        collected = await collect(targets, context=context, each_seconds=self.member_timeout)
        collected.unreachable |= missing
        return collected

    async def reconcile(self, namespace: str, name: str, *, trigger: str) -> Outcome | None:
        """Bring one HiveCluster a step closer to its spec; None when it is gone or being deleted."""
        queued = time.perf_counter()
        self.metrics.reconciles.labels(trigger).inc()
        async with self._workers, self._lock(namespace, name):
            started = time.perf_counter()
            self.metrics.queued.observe(started - queued)
            try:
                return await self._reconcile(namespace, name)
            except Exception as error:
                self.metrics.errors.labels(type(error).__name__).inc()
                raise
            finally:
                self.metrics.duration.observe(time.perf_counter() - started)

    async def _reconcile(self, namespace: str, name: str) -> Outcome | None:
        cluster = await read_cluster(self.api, namespace, name)
        if cluster is None or (cluster.metadata.model_extra or {}).get("deletionTimestamp"):
            return None
        kinds = await available_kinds(self.api)
        foreign_claims: set[str] = set()
        objects = await read_children(self.api, cluster, kinds, foreign_claims=foreign_claims)
        referenced = await read_referenced_secret_keys(self.api, cluster)
        issued: dict[str, dict[str, Any]] = {}
        if cluster.spec.tls.mode is TlsMode.CERT_MANAGER and "Certificate" in kinds:
            wanted = [leaf.name for leaf in expected_certificates(cluster, self.context)]
            issued = await read_issued_secrets(self.api, cluster, wanted)
        members = await self._members(cluster, objects, issued)
        risk_text = None
        reference = cluster.spec.risk.config_map_ref
        if reference is not None:
            risk_text = await read_config_map_key(self.api, namespace, reference.name, reference.key)
        observed = Observed(
            cluster=cluster,
            objects=objects,
            referenced_secrets=referenced,
            members=members.reports,
            available_kinds=kinds,
            issued_secrets=issued,
            risk_config_text=risk_text,
            leader_view=members.leader_view,
            foreign_claims=frozenset(foreign_claims),
        )
        now = self.clock()
        decided = plan(observed, context=self.context, now=now)
        writes = await perform(self.api, cluster, decided.actions, now=now, reporter=self.reporter)
        for action in decided.actions:
            if isinstance(action, SetRiskDefaults | ChangeMembership):
                await self._runtime_action(cluster, action, members, writes)
        for call, count in writes.items():
            self.metrics.writes.labels(call).inc(count)
        self.metrics.observe_status(namespace, name, decided.status)
        self.metrics.unreachable.labels(namespace, name).set(len(members.unreachable))
        if writes:
            log.info("%s/%s: %s", namespace, name, ", ".join(f"{c} x{n}" for c, n in sorted(writes.items())))
        return Outcome(plan=decided, writes=writes, unreachable=members.unreachable)

    async def _runtime_action(
        self,
        cluster: HiveCluster,
        action: SetRiskDefaults | ChangeMembership,
        members: Collected,
        writes: Writes,
    ) -> None:
        """The runtime half of the plan: one admin call to the leader. A refusal (the leader
        moved, a membership change is pending, a member still runs a release that does not know
        the command) is logged and counted, never raised: the next reconcile decides again from
        what the runtime then reports."""
        names = names_of(cluster)
        address = members.addresses.get(action.leader)
        if address is None or members.context is None:
            return
        if isinstance(action, SetRiskDefaults):
            what, call = "PUT /risk/defaults", f"risk defaults {action.expected_hash[:12]}"
        else:
            what, call = f"{action.step} member", f"{action.step} of node {action.node_id}"
        try:
            if isinstance(action, SetRiskDefaults):
                answer = await send_risk_defaults(
                    address, action.defaults, context=members.context, seconds=self.member_timeout
                )
                if answer.hash != action.expected_hash:
                    log.error(
                        "%s/%s: the runtime applied risk defaults %s",
                        names.namespace,
                        names.cluster,
                        answer.hash,
                    )
            else:
                await change_membership(
                    address, action.step, action.node_id, context=members.context, seconds=self.member_timeout
                )
        except (AdminError, OSError, TimeoutError) as error:
            self.metrics.errors.labels(f"Runtime{type(error).__name__}").inc()
            log.warning(
                "%s/%s: %s refused by %s: %s", names.namespace, names.cluster, call, action.leader, error
            )
            return
        writes[f"admin {what}"] += 1

    async def delete(self, namespace: str, name: str) -> Writes:
        """The cluster is being deleted: claims follow ``spec.storage.retentionPolicy`` (retained
        claims have no owner, so garbage collection leaves them; deleted ones are deleted here
        and are owned too); every other child goes with its owner through garbage collection.
        HiveBackups are not children of the cluster and are never deleted here."""
        writes: Writes = Counter()
        body_cluster = await read_cluster(self.api, namespace, name)
        if body_cluster is None:
            return writes
        names = names_of(body_cluster)
        policy = body_cluster.spec.storage.retention_policy
        async with self._lock(names.namespace, names.cluster):
            if policy is RetentionPolicy.DELETE:
                claim_labels = {**selector_labels(body_cluster), "app.kubernetes.io/component": "data"}
                claims = await self.api.get(
                    resource("PersistentVolumeClaim").path(names.namespace),
                    params={"labelSelector": ",".join(f"{k}={v}" for k, v in claim_labels.items())},
                )
                for claim in claims.get("items", []):
                    with contextlib.suppress(NotFound):
                        await self.api.delete(
                            resource("PersistentVolumeClaim").path(names.namespace, claim["metadata"]["name"])
                        )
                    writes["delete PersistentVolumeClaim"] += 1
                message = f"deleting; {len(claims.get('items', []))} claims deleted (retentionPolicy Delete)"
            else:
                message = "deleting; data claims retained (retentionPolicy Retain)"
            await post_event(
                self.api,
                body_cluster,
                Event("Normal", "Deleting", message),
                now=self.clock(),
                reporter=self.reporter,
                writes=writes,
            )
        self._contexts.forget(names.namespace, names.cluster)
        self.metrics.forget(names.namespace, names.cluster)
        self._locks.pop((names.namespace, names.cluster), None)
        return writes
