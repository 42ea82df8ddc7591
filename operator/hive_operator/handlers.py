"""kopf glue: which events start a reconcile, and how the operator process is configured.

Thin on purpose: every handler calls :class:`~hive_operator.reconcile.Reconciler`. Create, update
and resume reconcile at once; a timer reconciles every ``interval`` seconds once the object has
been quiet for a moment (status refresh, certificate rotation when due); delete runs behind
kopf's finalizer. Every kind a HiveCluster owns (and its pods) is watched too, filtered by the
``hive.dev/cluster`` label: an event pokes the owning cluster (:mod:`hive_operator.pokes`), so a
deleted or edited child is restored within moments rather than at the next tick. kopf posts no
events of its own (ours carry greppable reasons), and its watches have server and client
timeouts so a stalled watch is re-opened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from hive_operator.api import GROUP, VERSION
from hive_operator.kube.client import Conflict, KubeApi, NotFound
from hive_operator.kube.resources import resource
from hive_operator.metrics import OperatorMetrics
from hive_operator.pokes import Pokes
from hive_operator.reconcile import Outcome, Reconciler
from hive_operator.specs import CREATION_ORDER, OperatorContext
from hive_operator.specs.meta import CLUSTER_LABEL

Logger = logging.Logger | logging.LoggerAdapter[Any]
FINALIZER = "hive.dev/operator"
PLURAL = "hiveclusters"
MEMBERSHIP_RECHECK_SECONDS = 1.0
WATCHED_CHILDREN = CREATION_ORDER  # pods included: a pod's change refreshes status at once


@dataclass
class OperatorOptions:
    """What ``hive operator run`` decided; the handlers read it at start-up."""

    context: OperatorContext
    kubeconfig: str | None
    reporter: str
    metrics: OperatorMetrics
    interval: float = 10.0
    idle: float = 3.0
    watch_server_timeout: int = 60
    watch_client_timeout: int = 90
    member_timeout: float = 3.0
    poke_delay: float = 0.2  # a child's burst of watch events becomes one reconcile
    peering: str | None = None  # kopf peering name: active/standby among replicas
    peering_namespaces: tuple[str, ...] = ()  # namespaced peering objects here; () = cluster-wide
    peering_lifetime: int = 60  # seconds a silent peer is still taken as alive
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def build_registry(options: OperatorOptions) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    state: dict[str, Reconciler] = {}

    def reconciler() -> Reconciler:
        return state["reconciler"]

    def follow_up(namespace: str, name: str, outcome: Outcome | None) -> None:
        """The plan asked to be looked at again soon (a Raft membership step under way)."""
        if outcome is not None and outcome.plan.recheck_soon:
            pokes.poke(namespace, name, delay=MEMBERSHIP_RECHECK_SECONDS)

    async def poked(namespace: str, name: str) -> None:
        follow_up(namespace, name, await reconciler().reconcile(namespace, name, trigger="child"))

    pokes = Pokes(poked, delay=options.poke_delay)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if options.kubeconfig is not None:
            return kopf.login_with_kubeconfig(**kwargs)
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=GROUP, key="last-handled-configuration"
        )
        settings.posting.enabled = False
        settings.watching.server_timeout = options.watch_server_timeout
        settings.watching.client_timeout = options.watch_client_timeout
        settings.watching.connect_timeout = 10
        settings.networking.request_timeout = 30
        settings.peering.lifetime = options.peering_lifetime
        api = KubeApi.from_kubeconfig(options.kubeconfig) if options.kubeconfig else _api_in_cluster()
        if options.peering is not None:
            await ensure_peering_objects(api, options.peering, namespaces=options.peering_namespaces)
        state["reconciler"] = Reconciler(
            api,
            context=options.context,
            clock=options.clock,
            reporter=options.reporter,
            metrics=options.metrics,
            member_timeout=options.member_timeout,
        )

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await pokes.close()
        if "reconciler" in state:
            await state["reconciler"].api.close()

    async def run(trigger: str, namespace: str | None, name: str, logger: Logger) -> None:
        try:
            outcome = await reconciler().reconcile(namespace or "", name, trigger=trigger)
            follow_up(namespace or "", name, outcome)
        except Exception as error:  # retried by kopf (handlers) or at the next tick (timer)
            logger.warning("reconcile failed: %s: %s", type(error).__name__, error)
            raise kopf.TemporaryError(f"{type(error).__name__}: {error}", delay=5) from None

    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    async def resumed(namespace: str | None, name: str, logger: Logger, **_: Any) -> None:
        await run("resume", namespace, name, logger)

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    async def created(namespace: str | None, name: str, logger: Logger, **_: Any) -> None:
        await run("create", namespace, name, logger)

    @kopf.on.update(GROUP, VERSION, PLURAL, registry=registry)
    async def updated(namespace: str | None, name: str, logger: Logger, **_: Any) -> None:
        await run("update", namespace, name, logger)

    @kopf.timer(GROUP, VERSION, PLURAL, interval=options.interval, idle=options.idle, registry=registry)
    async def tick(namespace: str | None, name: str, logger: Logger, **_: Any) -> None:
        try:
            outcome = await reconciler().reconcile(namespace or "", name, trigger="timer")
            follow_up(namespace or "", name, outcome)
        except Exception as error:  # the next tick tries again; the error is counted in metrics
            logger.warning("reconcile failed: %s: %s", type(error).__name__, error)

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    async def deleted(namespace: str | None, name: str, **_: Any) -> None:
        await reconciler().delete(namespace or "", name)

    async def child_event(namespace: str | None, labels: Mapping[str, str], **_: Any) -> None:
        if namespace and "reconciler" in state:
            pokes.poke(namespace, labels[CLUSTER_LABEL])

    for kind in WATCHED_CHILDREN:
        group, _, version = resource(kind).api_version.rpartition("/")
        kopf.on.event(
            group=group,
            version=version,
            plural=resource(kind).plural,
            labels={CLUSTER_LABEL: kopf.PRESENT},
            id=f"poke-owner-{kind}",
            registry=registry,
        )(child_event)

    return registry


async def ensure_peering_objects(api: KubeApi, name: str, *, namespaces: tuple[str, ...]) -> None:
    """Create kopf's peering object(s) when missing: kopf pauses a peering operator until its
    object exists, and the chart cannot ship an instance of a CRD it installs in the same release.
    Every replica may try; the one that loses the race gets 409 and goes on."""
    base = "/apis/kopf.dev/v1"
    targets: list[tuple[str, str, str | None]]
    if namespaces:
        targets = [(f"{base}/namespaces/{ns}/kopfpeerings", "KopfPeering", ns) for ns in namespaces]
    else:
        targets = [(f"{base}/clusterkopfpeerings", "ClusterKopfPeering", None)]
    for path, kind, namespace in targets:
        try:
            await api.get(f"{path}/{name}")
            continue
        except NotFound:
            pass
        metadata = {"name": name} | ({"namespace": namespace} if namespace else {})
        try:
            await api.post(path, {"apiVersion": "kopf.dev/v1", "kind": kind, "metadata": metadata})
        except Conflict:
            pass  # another replica created it first
        except NotFound:  # kopf retries start-up handlers that ask for it
            raise kopf.TemporaryError(f"the {kind} CRD (kopf.dev) is not served yet", delay=2) from None


def _api_in_cluster() -> KubeApi:
    return KubeApi.in_cluster()
