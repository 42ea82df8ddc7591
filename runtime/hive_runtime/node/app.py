"""A runtime node assembled from its configuration, and ``serve``, the pod's main loop.

Everything runs on one event loop in one :class:`asyncio.TaskGroup`: the Raft Ready loop, the
ticker, one outbound link per peer, the peer, client, admin, probe and metrics servers, and the
TLS file watcher. Certificates reload in place; nothing here restarts the process.

State digests are recorded at deterministic indexes and snapshots are serialised in forked
children (:mod:`hive_runtime.node.captures`), so neither stalls the loop; the loop's own lag is a
metric (:mod:`hive_runtime.node.loop_lag`).

Members advertise their build version in a ``hello`` frame on every peer connection; the leader
replicates them and the resulting ``clusterVersion``, which gates new entry types
(:mod:`hive_runtime.node.version_gate`). SIGTERM on a leader hands leadership over before exiting
(:mod:`hive_runtime.node.leave`). Whether the node bootstraps a new cluster or joins one is
decided on its first start and recorded (:mod:`hive_runtime.node.bootstrap`).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import random
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from hive_runtime import __version__, raft
from hive_runtime.audit.signing import load_private_key
from hive_runtime.audit.trail import AuditWriter
from hive_runtime.config import RuntimeConfig
from hive_runtime.identity import Role
from hive_runtime.node.admin import admin_app
from hive_runtime.node.audit_seal import AuditSealer
from hive_runtime.node.bootstrap import decide as decide_bootstrap
from hive_runtime.node.captures import StateCaptures
from hive_runtime.node.client_api import ClientService
from hive_runtime.node.digests import CaptureDone
from hive_runtime.node.driver import RaftDriver
from hive_runtime.node.durable import DurableRaftStorage
from hive_runtime.node.http import ReloadingServerContext, metrics_app, probe_app, start_site
from hive_runtime.node.leave import leave
from hive_runtime.node.loop_lag import LoopLagMonitor
from hive_runtime.node.metrics import NodeMetrics
from hive_runtime.node.state import NodeStateMachine
from hive_runtime.node.surveillance import LeaderSurveillance
from hive_runtime.node.transfers import TransferTracker
from hive_runtime.node.version_gate import VersionGate
from hive_runtime.node.versions import AUDIT_TICK
from hive_runtime.platform import (
    freeze_after_warmup,
    keep_off_pinned_core,
    pin_current_thread,
    thread_pool_off_pinned_core,
)
from hive_runtime.secretfiles import SecretFiles
from hive_runtime.storage import StorageMetrics
from hive_runtime.tlsfiles import TlsMaterial, TlsPaths
from hive_runtime.transport import (
    AccessPolicy,
    Backoff,
    Frame,
    FrameConnection,
    FrameServer,
    OutputCoalescer,
    PeerLink,
    TransportMetrics,
)

log = logging.getLogger(__name__)


BUILD_VERSION_ENV = "HIVE_BUILD_VERSION"


def build_version() -> str:
    """The version of the installed ``hive`` package (what this process runs). A container image
    states its own version in ``HIVE_BUILD_VERSION`` (baked into the image, as its tag is); the
    test bed sets it from the image tag, so two tags run as two builds."""
    baked = os.environ.get(BUILD_VERSION_ENV)
    if baked:
        return baked
    try:
        return importlib.metadata.version("hive")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree, not installed
        return __version__


class RuntimeNode:
    """One replica: construct, then ``await node.run()`` (or use :func:`serve`)."""

    def __init__(
        self,
        config: RuntimeConfig,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.build_version = build_version()
        self.version = config.version or self.build_version
        self._sleep = sleep
        self._wall = wall_clock
        self.registry = CollectorRegistry()
        self.metrics = NodeMetrics(self.registry)
        self.transport_metrics = TransportMetrics(self.registry)
        self.tls = TlsMaterial(
            TlsPaths(ca=config.tls.ca, cert=config.tls.cert, key=config.tls.key),
            poll_interval=config.tls.reload_poll_seconds,
            registry=self.registry,
        )
        self.storage = DurableRaftStorage(
            config.data_dir / "raft",
            bootstrap=decide_bootstrap(config).conf_state,
            segment_bytes=config.storage.segment_bytes,
            snapshots_kept=config.storage.snapshots_kept,
            durable=config.storage.fsync == "always",
            metrics=StorageMetrics(self.registry),
        )
        self.state = NodeStateMachine(
            checkpoint_every=config.audit_checkpoint_every,
            checkpoint_interval_ms=config.audit_checkpoint_interval_ms,
            register_space=config.register_space,
        )
        self.captures = StateCaptures(
            self.state.snapshot, settings=config.digests, metrics=self.metrics, name=config.member_name
        )
        self.digests = self.captures.digests
        restored = self.storage.snapshot()
        self.captures.restored(restored.meta.index, restored.data)
        timing = config.raft
        self.output = OutputCoalescer()
        # The WAL fsync runs here while the loop goes on; the driver keeps the order (nothing that
        # promises durability leaves before it returns). One thread: one fsync at a time.
        self.sync_executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="wal-sync", initializer=keep_off_pinned_core
        )
        self.driver = RaftDriver(
            raft_config=raft.RaftConfig(
                node_id=config.node_id,
                election_ticks=timing.election_ticks,
                heartbeat_ticks=timing.heartbeat_ticks,
                broadcast_commit=False,  # followers learn commits with the next append or heartbeat
            ),
            storage=self.storage,
            state=self.state,
            rng=rng if rng is not None else random.Random(),
            send=self._send_raft,
            flush_output=self.output.flush,
            snapshot_every=timing.snapshot_every,
            keep_entries=timing.keep_entries,
            on_fsync=self.metrics.fsync_latency.observe,
            on_apply=self.metrics.apply_latency.observe,
            after_apply=self._after_apply,
            capture_every=config.digests.interval,
            on_capture_point=self.captures.capture_point,
            on_snapshot_restored=self.captures.snapshot_installed,
            snapshot_capture=self.captures.snapshot,
            sync_executor=self.sync_executor,
        )
        self.version_gate = VersionGate(
            node_id=config.node_id,
            build_version=self.build_version,
            driver=self.driver,
            state=self.state,
            name_of=config.name_of,
            sleep=self._sleep,
        )
        self.version_gate.check_not_older()  # a restored snapshot may already be too new for us
        self.audit_writer = self._open_audit_trail()
        self.secrets = (
            SecretFiles(
                config.secrets_dir, poll_interval=config.tls.reload_poll_seconds, registry=self.registry
            )
            if config.secrets_dir is not None
            else None
        )
        self.links: dict[int, PeerLink] = {}
        self._link_tasks: dict[int, asyncio.Task[None]] = {}
        peer_policy = AccessPolicy(
            config.namespace, config.cluster, frozenset({Role.PEER}), names=self._member_names
        )
        self.peer_server = FrameServer(
            port_name="peer",
            context=lambda: self.tls.server_context,
            policy=peer_policy,
            handlers={"raft": self._on_raft_frame, "hello": self._on_hello},
            metrics=self.transport_metrics,
            max_frame_size=config.transport.max_frame_bytes,
            handshake_timeout=config.transport.handshake_timeout_seconds,
            coalescer=self.output,
        )
        self.client_service = ClientService(
            driver=self.driver,
            leader_address=config.client_address,
            metrics=self.metrics,
            register_space=config.register_space,
        )
        self.audit_sealer = AuditSealer(
            driver=self.driver,
            chain=lambda: self.state.trading.audit,
            timestamp_us=self.client_service.next_timestamp_us,
            sleep=self._sleep,
            admitted=lambda: self.version_gate.admits(AUDIT_TICK),
            counted=lambda outcome: self.metrics.audit_ticks.labels(outcome).inc(),
        )
        self.metrics.audit_unsigned_records.set_function(lambda: self.state.trading.audit.unsigned)
        self.surveillance = LeaderSurveillance(
            settings=config.surveillance,
            driver=self.driver,
            timestamp_us=self.client_service.next_timestamp_us,
            sleep=self._sleep,
        )
        if config.surveillance.enabled:
            self.state.trading.observer = self.surveillance.observe
        self.client_server = FrameServer(
            port_name="client",
            context=lambda: self.tls.server_context,
            policy=AccessPolicy(config.namespace, config.cluster, frozenset({Role.CLIENT, Role.OPERATOR})),
            handlers=self.client_service.handlers,
            metrics=self.transport_metrics,
            max_frame_size=config.transport.max_frame_bytes,
            handshake_timeout=config.transport.handshake_timeout_seconds,
            coalescer=self.output,
        )
        self.started_at = self._wall()
        self.transfers = TransferTracker(
            give_up_after=10 * timing.election_ticks * timing.tick_ms / 1000, clock=self._wall
        )
        self.last_heard: dict[int, float] = {}  # member -> wall time of its last Raft message
        self.loop_lag = LoopLagMonitor(self.registry)
        self.bound: dict[str, tuple[str, int]] = {}
        self.ready_event = asyncio.Event()
        self.pinning: dict[str, Any] = {
            "pinned": False,
            "cpuset": None,
            "core": None,
            "reason": "not started",
        }
        self._runners: list[web.AppRunner] = []

    # -- audit trail --------------------------------------------------------------------------------
    def _open_audit_trail(self) -> AuditWriter | None:
        """A new trail file per start, beginning where the restored state's chain left off."""
        if self.config.audit_key_file is None:
            return None
        directory = self.config.data_dir / "audit"
        directory.mkdir(parents=True, exist_ok=True)
        start = self.state.trading.audit.state()
        path = directory / f"trail-{self.driver.applied_index:020d}-{int(time.time() * 1e6)}.audit"
        return AuditWriter(path, load_private_key(self.config.audit_key_file), start_state=start)

    def _after_apply(self) -> None:
        self._drain_audit()
        self.version_gate.check_not_older()  # raising stops the Ready loop, and the node

    def _drain_audit(self) -> None:
        produced = self.state.trading.take_audit()
        if self.audit_writer is not None and produced:
            self.audit_writer.write(produced)
            self.audit_writer.flush(fsync=False)

    # -- versions, digests and leadership ---------------------------------------------------------
    @property
    def cluster_version(self) -> str | None:
        """The replicated cluster version (``/status``): None until the first ``VERSIONS`` entry."""
        return self.version_gate.cluster_version

    def capture_state(self, done: CaptureDone) -> bool:
        """Serialise the applied state as of now in the background (backups)."""
        return self.captures.state_now(self.driver.applied_index, done)

    def best_transfer_target(self) -> int | None:
        """The voter (other than this leader) with the highest match index."""
        status = self.driver.status()
        candidates = [
            (match, peer)
            for peer, match in status.match_index.items()
            if peer != self.config.node_id and peer in status.conf_state.voters
        ]
        return max(candidates)[1] if candidates else None

    # -- membership and peers ---------------------------------------------------------------------
    def member_ids(self) -> frozenset[int]:
        return self.driver.node.conf.members | self.config.initial_voters

    def _member_names(self) -> set[str]:
        return {self.config.name_of(node_id) for node_id in self.member_ids()}

    def _link(self, node_id: int) -> PeerLink:
        link = self.links.get(node_id)
        if link is None:
            link = PeerLink(
                peer_name=self.config.name_of(node_id),
                address=lambda: self.config.peer_address(node_id),
                context=lambda: self.tls.client_context,
                expect=AccessPolicy(self.config.namespace, self.config.cluster, frozenset({Role.PEER})),
                sleep=self._sleep,
                backoff=Backoff(
                    initial=self.config.transport.reconnect_initial_seconds,
                    maximum=self.config.transport.reconnect_max_seconds,
                ),
                max_frame_size=self.config.transport.max_frame_bytes,
                metrics=self.transport_metrics,
                coalescer=self.output,
                greeting=lambda: Frame("hello", self.version_gate.hello()),
            )
            self.links[node_id] = link
            self._link_tasks[node_id] = asyncio.get_running_loop().create_task(link.run())
        return link

    def _send_raft(self, message: raft.Message) -> None:
        if message.to == self.config.node_id:
            return
        self._link(message.to).send(Frame("raft", message.to_wire()))

    async def _on_hello(self, connection: FrameConnection, frame: Frame) -> None:
        self.version_gate.on_hello(connection.identity.name, frame.payload)

    async def _on_raft_frame(self, connection: FrameConnection, frame: Frame) -> None:
        message = raft.Message.from_wire(frame.payload)
        self.last_heard[message.sender] = self._wall()
        self.driver.step(message)
        if not connection.has_buffered_frames:
            self.driver.run_now()

    # -- running ----------------------------------------------------------------------------------
    async def _ticker(self) -> None:
        interval = self.config.raft.tick_ms / 1000
        while True:
            await self._sleep(interval)
            self.driver.tick()
            self.transfers.observe(
                is_leader=self.driver.is_leader,
                leader_id=self.driver.leader_id,
                transferee=self.driver.node.lead_transferee,
            )

    async def _refresh_metrics(self) -> None:
        while True:
            self.refresh_metrics()
            await self._sleep(1.0)

    def refresh_metrics(self) -> None:
        status = self.driver.status()
        metrics = self.metrics
        metrics.term.set(status.term)
        metrics.is_leader.set(1 if self.driver.is_leader else 0)
        metrics.commit_index.set(status.commit)
        metrics.applied_index.set(self.driver.applied_index)
        metrics.log_entries.set(max(0, self.storage.last_index() - self.storage.first_index() + 1))
        metrics.snapshot_index.set(self.driver.snapshot_index)
        metrics.snapshot_age_entries.set(self.driver.applied_index - self.driver.snapshot_index)
        if self.driver.is_leader:
            for peer, match in status.match_index.items():
                if peer != self.config.node_id:
                    metrics.replication_lag.labels(self.config.name_of(peer)).set(status.last_index - match)
        engine = self.state.trading.engine
        metrics.kill_switch.set(1 if engine.global_kill else 0)
        metrics.halted_symbols.set(sum(1 for instrument in engine.instruments.values() if instrument.halted))
        metrics.sync_counters(
            leader_changes=self.driver.stats.leader_changes, decisions=self.state.trading.decisions
        )

    def is_ready(self) -> bool:
        """Caught up with the leader, and a leader exists."""
        if self.driver.leader_id is None:
            return False
        commit = self.driver.status().commit
        return commit - self.driver.applied_index <= self.config.ready_max_lag_entries

    async def start_servers(self) -> None:
        listen = self.config.listen
        self.bound["peer"] = await self.peer_server.start(listen.peer.host, listen.peer.port)
        self.bound["client"] = await self.client_server.start(listen.client.host, listen.client.port)
        sites = (
            ("admin", admin_app(self), listen.admin, ReloadingServerContext(lambda: self.tls.server_context)),
            ("probe", probe_app(self), listen.probe, None),
            ("metrics", metrics_app(self), listen.metrics, None),
        )
        for name, app, address, context in sites:
            runner, self.bound[name] = await start_site(app, address.host, address.port, ssl_context=context)
            self._runners.append(runner)

    def pin(self) -> None:
        """Pin the event-loop thread to a core of the cpuset (when the cores are exclusive)."""
        report = pin_current_thread(mode=self.config.cpu.pin)
        self.pinning = {
            "cpuset": report.cpuset,
            "pinned": report.pinned,
            "core": report.pinned_core,
            "reason": report.reason,
        }
        self.metrics.pinned_core.set(report.pinned_core if report.pinned_core is not None else -1)
        if report.pinned:
            asyncio.get_running_loop().set_default_executor(thread_pool_off_pinned_core())
        log.info("node %s: %s (cpuset %s)", self.config.member_name, report.reason, report.cpuset)

    async def _freeze_after_warmup(self) -> None:
        if not self.config.cpu.gc_freeze_after_warmup:
            return
        await self._sleep(self.config.cpu.warmup_seconds)
        report = freeze_after_warmup()
        log.info("node %s: gc frozen (%s objects)", self.config.member_name, report.frozen_objects)

    async def run(self) -> None:
        self.pin()
        await self.start_servers()
        self.ready_event.set()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.driver.run())
                group.create_task(self._ticker())
                group.create_task(self.tls.watch(sleep=self._sleep))
                if self.secrets is not None:
                    group.create_task(self.secrets.watch(sleep=self._sleep))
                group.create_task(self._refresh_metrics())
                group.create_task(self.audit_sealer.run())
                if self.config.surveillance.enabled:
                    group.create_task(self.surveillance.run())
                group.create_task(self.version_gate.run())
                group.create_task(self._freeze_after_warmup())
                group.create_task(self.loop_lag.run())
        finally:
            await self.close()

    async def close(self) -> None:
        self.captures.close()
        for task in self._link_tasks.values():
            task.cancel()
        await asyncio.gather(*self._link_tasks.values(), return_exceptions=True)
        await self.peer_server.close()
        await self.client_server.close()
        for runner in self._runners:
            await runner.cleanup()
        if self.audit_writer is not None:
            self.audit_writer.close()
        self.driver.close()  # nothing it still has queued touches the storage after this
        self.sync_executor.shutdown(wait=True)  # an fsync in flight finishes before the WAL closes
        self.storage.close()


async def serve(config: RuntimeConfig) -> None:
    """Run a node until SIGTERM (a leader hands leadership over first, see
    :mod:`hive_runtime.node.leave`) or SIGINT (stop now; so does a second SIGTERM)."""
    node = RuntimeNode(config)
    loop = asyncio.get_running_loop()
    runner = loop.create_task(node.run())
    leaving: list[asyncio.Task[Any]] = []

    def on_sigterm() -> None:
        if leaving or not node.ready_event.is_set():
            runner.cancel()
            return
        leaving.append(loop.create_task(leave(node)))
        leaving[0].add_done_callback(lambda _: runner.cancel())

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    loop.add_signal_handler(signal.SIGINT, runner.cancel)
    try:
        await runner
    except asyncio.CancelledError:
        log.info("node %s stopped", config.member_name)
