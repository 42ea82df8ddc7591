"""The Ready loop: carry out what the sans-I/O Raft core asks, in the order its contract demands.

For each Ready (see :mod:`hive_runtime.raft.ready`): install a received snapshot, append entries
and record term and vote (written, not yet synced); send the leader's appends at once and push
them onto the sockets, so followers receive and fsync while this node fsyncs (thesis §10.2.1;
the core counts the leader's own copy only after ``advance``); apply committed entries (already
durable on a majority) and answer their proposers and pending linearizable reads, pushing the
replies out too; then fsync once (group commit: everything proposed since the last Ready shares
it); only then send the other messages (votes and acknowledgements promise what was synced), and
``advance``.

The loop runs as an event-loop callback scheduled whenever a message, tick or proposal arrives,
so one loop iteration's proposals share one Ready; the peer-frame handler also runs it at once
(``run_now``) after the last frame of a burst, saving a loop round trip on the commit path.

Where the fsync runs: inline by default (the loop does nothing else meanwhile), or, with a
``sync_executor`` (the node's), on that executor's thread while the loop goes on with timers,
frames, admin requests and proposals. The order is the same either way: the Ready's other messages
(acknowledgements, votes) are sent, and the Ready advanced, only once the fsync has returned, and
no other Ready starts meanwhile (the core holds one outstanding Ready; what is stepped or proposed
in the meantime waits for the next one). A WAL fsync takes 2-25 ms on a shared disk, which is
what the event-loop lag p99 was made of.

Proposals are answered by index and term: if the entry applied at that index is not the one
proposed (leadership changed and the log was overwritten), or this node stops being leader
first, the proposer gets :class:`OutcomeUnknown` and retries idempotently.

Two hooks keep state serialisation off the loop: ``on_capture_point`` runs right after every
``capture_every``-th index is applied (the node records the digest of the state at exactly that
index), and a ``snapshot_capture`` serialises snapshots in the background. When a snapshot is due
at a capture point, the snapshot capture starts there instead and serves as that point's digest
too (one serialisation, not two). When the bytes arrive the snapshot file is written on the
storage's worker thread, and only once it is durable is the log compacted behind it, back on the
loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from itertools import count

from hive_runtime import raft
from hive_runtime.node.durable import DurableRaftStorage, PendingSnapshot
from hive_runtime.node.state import NodeStateMachine, batch_entry, is_batch

log = logging.getLogger(__name__)


class OutcomeUnknown(Exception):
    """The entry may or may not commit (leadership changed); retry idempotently."""


class NotLeader(Exception):
    """This node cannot take the request; ``leader_id`` says where to go, if known."""

    def __init__(self, leader_id: int | None) -> None:
        super().__init__(f"not the leader (leader: {leader_id})")
        self.leader_id = leader_id


@dataclass
class DriverStats:
    """Counters the metrics layer exports."""

    readies: int = 0
    fsyncs: int = 0
    entries_persisted: int = 0
    entries_applied: int = 0
    messages_sent: int = 0
    leader_changes: int = 0
    snapshots_taken: int = 0
    snapshots_installed: int = 0


Resolve = Callable[[bytes | None, BaseException | None], None]
"""How a proposer hears its outcome: ``(outcome, None)`` once applied, or ``(None, error)``."""

SnapshotCapture = Callable[[int, Callable[[int, bytes | None], None]], bool]
"""``capture(index, done)``: start serialising the state as of now (applied ``index``) off the
loop and call ``done(index, data)`` on the loop later (``data`` None on failure); False when it
cannot start now. The capture also records the digest at ``index``. Without one, the driver
serialises and saves snapshots inline."""


class RaftDriver:
    """Owns one :class:`~hive_runtime.raft.RaftNode` and runs its Ready loop on the event loop."""

    def __init__(
        self,
        *,
        raft_config: raft.RaftConfig,
        storage: DurableRaftStorage,
        state: NodeStateMachine,
        rng: raft.RandomSource,
        send: Callable[[raft.Message], None],
        flush_output: Callable[[], None] | None = None,
        snapshot_every: int = 10_000,
        keep_entries: int = 1_000,
        on_fsync: Callable[[float], None] | None = None,
        on_apply: Callable[[float], None] | None = None,
        batch_max_items: int = 1024,
        batch_max_bytes: int = 1 << 20,
        after_apply: Callable[[], None] | None = None,
        capture_every: int = 0,
        on_capture_point: Callable[[int], None] | None = None,
        on_snapshot_restored: Callable[[int, bytes], None] | None = None,
        snapshot_capture: SnapshotCapture | None = None,
        sync_executor: Executor | None = None,
    ) -> None:
        self.storage = storage
        self._sync_executor = sync_executor
        self._syncing = False  # a Ready waits for its fsync on the executor
        self.state = state
        self._send = send
        self._flush_output = flush_output if flush_output is not None else _nothing
        self.snapshot_every = snapshot_every
        self.keep_entries = keep_entries
        self._on_fsync = on_fsync
        self._on_apply = on_apply
        self.batch_max_items = batch_max_items
        self.batch_max_bytes = batch_max_bytes
        self._after_apply = after_apply
        self._capture_every = capture_every if on_capture_point is not None else 0
        self._on_capture_point = on_capture_point if on_capture_point is not None else _ignore_index
        self._on_snapshot_restored = on_snapshot_restored
        self._snapshot_capture = snapshot_capture
        self._snapshot_in_flight: int | None = None
        snapshot = storage.snapshot()
        if snapshot.meta.index > 0:
            state.restore(snapshot.data)
        self.snapshot_index = snapshot.meta.index
        self.node = raft.RaftNode(raft_config, storage, rng=rng)
        self.stats = DriverStats()
        self.soft_state = raft.SoftState(None, raft.Role.FOLLOWER)
        self._pending: dict[int, tuple[int, list[Resolve]]] = {}
        self._proposals: list[tuple[bytes, Resolve]] = []
        self._reads: dict[bytes, asyncio.Future[int]] = {}
        self._ready_reads: list[tuple[int, asyncio.Future[int]]] = []
        self._read_ids = count(1)
        self._scheduled = False
        self._failed = asyncio.Event()
        self.applied_index = snapshot.meta.index
        self.fatal: BaseException | None = None

    # -- inputs ----------------------------------------------------------------------------------
    def tick(self) -> None:
        self.node.tick()
        self._schedule()

    def step(self, message: raft.Message) -> None:
        self.node.step(message)
        self._schedule()

    def propose(self, data: bytes) -> asyncio.Future[bytes]:
        """Append ``data`` as leader; the future resolves to the state machine's outcome."""
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.propose_with(data, partial(_settle, future))
        return future

    def propose_with(self, data: bytes, resolve: Resolve) -> None:
        """Append ``data`` as leader; ``resolve`` is called (synchronously, from the Ready loop)
        with the outcome once applied, so a reply can leave before the next fsync blocks the loop.

        Proposals made in the same event-loop iteration are packed into one ``BATCH`` entry
        (:func:`~hive_runtime.node.state.batch_entry`): one WAL record, one replication round,
        one fsync and one wire entry per follower carry all of them. Raises :class:`NotLeader`
        at once on a follower; a batch refused later resolves each proposer with it.
        """
        if not self.is_leader:
            raise NotLeader(self.leader_id)
        self._proposals.append((data, resolve))
        self._schedule()

    def _flush_proposals(self) -> None:
        """Append this iteration's proposals: a lone one as its own entry, several packed into
        ``BATCH`` entries of at most ``batch_max_items`` commands and about ``batch_max_bytes``."""
        proposals, self._proposals = self._proposals, []
        if not proposals:
            return
        groups = _group(proposals, max_items=self.batch_max_items, max_bytes=self.batch_max_bytes)
        entries = [
            group[0][0] if len(group) == 1 else batch_entry([data for data, _ in group]) for group in groups
        ]
        try:
            last = self.node.propose_batch(entries)
        except raft.ProposalDropped as dropped:
            for _, resolve in proposals:
                _answer(resolve, None, NotLeader(dropped.leader_hint))
            return
        term = self.node.term
        first = last - len(entries) + 1
        for offset, group in enumerate(groups):
            self._pending[first + offset] = (term, [resolve for _, resolve in group])

    def propose_conf_change(self, change: raft.ConfChange) -> asyncio.Future[bytes]:
        """Propose a membership change; the future resolves once it is applied."""
        try:
            index = self.node.propose_conf_change(change)
        except raft.ProposalDropped as dropped:
            raise NotLeader(dropped.leader_hint) from None
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[index] = (self.node.term, [partial(_settle, future)])
        self._schedule()
        return future

    async def read_barrier(self) -> int:
        """Wait until this node may serve a linearizable read (ReadIndex, §6.4); returns the index."""
        context = f"{self.node.id}:{next(self._read_ids)}".encode()
        try:
            self.node.read_index(context)
        except raft.ProposalDropped as dropped:
            raise NotLeader(dropped.leader_hint) from None
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._reads[context] = future
        self._schedule()
        return await future

    def transfer_leadership(self, target: int) -> None:
        try:
            self.node.transfer_leadership(target)
        except raft.ProposalDropped as dropped:
            raise NotLeader(dropped.leader_hint) from None
        self._schedule()

    # -- the loop --------------------------------------------------------------------------------
    def run_now(self) -> None:
        """Process the Readies that stepped messages produced, at once: the peer-frame handler
        calls this after the last frame of a burst, saving a loop round trip on the commit path
        (a follower's append, a leader's acknowledgement). Proposals are left to the scheduled
        run, so that those of every client connection in this iteration share one fsync."""
        if self.fatal is None:
            try:
                self.process_ready()
            except BaseException as error:
                self._stop(error)

    def _schedule(self) -> None:
        if not self._scheduled and self.fatal is None:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._run_once)

    def _run_once(self) -> None:
        self._scheduled = False
        try:
            self._flush_proposals()
            self.process_ready()
        except BaseException as error:  # a storage failure must stop the node, not a callback
            self._stop(error)

    def close(self) -> None:
        """The node is closing its storage: an fsync returning from the executor does nothing
        more, and no Ready loop run is scheduled again."""
        if self.fatal is None:
            self.fatal = RuntimeError("the node has stopped")

    def _stop(self, error: BaseException) -> None:
        log.exception("node %s: the Ready loop failed", self.node.id, exc_info=error)
        self.fatal = error
        self._failed.set()

    async def run(self) -> None:
        """Wait while the Ready loop (event-loop callbacks) works; raise what stopped it."""
        self._schedule()
        await self._failed.wait()
        assert self.fatal is not None
        raise self.fatal

    def process_ready(self) -> None:
        """Carry out every pending Ready (see the module docstring for the order)."""
        while not self._syncing and self.node.has_ready():
            ready = self.node.ready()
            self._persist(ready)
            if ready.early_messages:
                self._send_all(ready.early_messages)
                self._flush_output()
            self._apply_ready(ready)
            self._flush_output()
            if ready.must_sync:
                if self._sync_executor is not None:
                    sync = self.storage.begin_sync()
                    if sync is not None:
                        self._sync_off_loop(ready, sync)
                        return  # _synced finishes this Ready and carries on
                else:
                    started = time.perf_counter()
                    if self.storage.sync():
                        self._synced_for(time.perf_counter() - started)
            self._finish_ready(ready)
        if not self._syncing:
            self._maybe_snapshot()

    def _finish_ready(self, ready: raft.Ready) -> None:
        """What must follow the fsync: the messages that promise it, then ``advance``."""
        if ready.messages:
            self._send_all(ready.messages)
            self._flush_output()
        self.node.advance(ready)

    def _synced_for(self, seconds: float) -> None:
        self.stats.fsyncs += 1
        if self._on_fsync is not None:
            self._on_fsync(seconds)

    def _sync_off_loop(self, ready: raft.Ready, sync: Callable[[], object]) -> None:
        def timed() -> float:  # on the executor's thread
            started = time.perf_counter()
            sync()
            return time.perf_counter() - started

        self._syncing = True
        future = asyncio.get_running_loop().run_in_executor(self._sync_executor, timed)
        future.add_done_callback(partial(self._synced, ready))

    def _synced(self, ready: raft.Ready, future: asyncio.Future[float]) -> None:
        """Back on the loop: the fsync for ``ready`` returned (or failed: the node stops)."""
        self._syncing = False
        if self.fatal is not None:
            return
        try:
            self._synced_for(future.result())
            self._finish_ready(ready)
            self._flush_proposals()
            self.process_ready()
        except BaseException as error:  # a storage failure must stop the node, not a callback
            self._stop(error)

    def _persist(self, ready: raft.Ready) -> None:
        self.stats.readies += 1
        if ready.soft_state != self.soft_state:
            self._on_soft_state(ready.soft_state)
        if ready.snapshot is not None:
            self.storage.install_snapshot(ready.snapshot)
            self.stats.snapshots_installed += 1
        if ready.entries:
            self.storage.append(ready.entries)
            self.stats.entries_persisted += len(ready.entries)
        if ready.hard_state is not None:
            self.storage.set_hard_state(ready.hard_state)

    def _send_all(self, messages: tuple[raft.Message, ...]) -> None:
        for message in messages:
            self._send(message)
        self.stats.messages_sent += len(messages)

    def _apply_ready(self, ready: raft.Ready) -> None:
        if ready.snapshot is not None:
            self.state.restore(ready.snapshot.data)
            self.applied_index = ready.snapshot.meta.index
            self.snapshot_index = ready.snapshot.meta.index
            self._fail_pending_through(ready.snapshot.meta.index)
            if self._on_snapshot_restored is not None:
                self._on_snapshot_restored(ready.snapshot.meta.index, ready.snapshot.data)
        on_apply = self._on_apply
        for entry in ready.committed_entries:
            if on_apply is None:
                self._apply(entry)
            else:
                started = time.perf_counter()
                self._apply(entry)
                on_apply(time.perf_counter() - started)
        if ready.committed_entries and self._after_apply is not None:
            self._after_apply()
        for read_state in ready.read_states:
            future = self._reads.pop(read_state.context, None)
            if future is not None and not future.done():
                self._ready_reads.append((read_state.index, future))
        self._release_reads()

    def _apply(self, entry: raft.Entry) -> None:
        outcomes: list[bytes] | None = None
        if entry.kind is raft.EntryKind.NORMAL and entry.data:
            if is_batch(entry.data):
                outcomes = self.state.apply_batch(entry.index, entry.data)
            else:
                outcomes = [self.state.apply(entry.index, entry.data)]
        else:
            self.state.note_applied(entry.index)
            if entry.kind is raft.EntryKind.CONF_CHANGE:
                outcomes = [b""]
        self.applied_index = entry.index
        self.stats.entries_applied += 1
        # the state as of exactly this index; a snapshot due now captures it once for both
        capture_point = self._capture_every and entry.index % self._capture_every == 0
        if capture_point and not (self._snapshot_due() and self._start_snapshot_capture()):
            self._on_capture_point(entry.index)
        pending = self._pending.pop(entry.index, None)
        if pending is None:
            return
        term, resolves = pending
        if term == entry.term and outcomes is not None and len(outcomes) == len(resolves):
            for resolve, outcome in zip(resolves, outcomes, strict=True):
                _answer(resolve, outcome, None)
        else:
            error = OutcomeUnknown(f"entry {entry.index} was replaced")
            for resolve in resolves:
                _answer(resolve, None, error)

    def _release_reads(self) -> None:
        if not self._ready_reads:
            return
        waiting = []
        for index, future in self._ready_reads:
            if self.applied_index >= index:
                if not future.done():
                    future.set_result(index)
            else:
                waiting.append((index, future))
        self._ready_reads = waiting

    def _on_soft_state(self, soft: raft.SoftState) -> None:
        log.info(
            "node %s: %s, leader %s, term %s", self.node.id, soft.role.value, soft.leader_id, self.node.term
        )
        leader_changed = soft.leader_id != self.soft_state.leader_id
        if leader_changed:
            self.stats.leader_changes += 1
        was_leader = self.soft_state.role is raft.Role.LEADER
        self.soft_state = soft
        if was_leader and soft.role is not raft.Role.LEADER:
            error = OutcomeUnknown("leadership lost before the entry committed")
            pending, self._pending = self._pending, {}
            for _, resolves in pending.values():
                for resolve in resolves:
                    _answer(resolve, None, error)
        if leader_changed or (was_leader and soft.role is not raft.Role.LEADER):
            # A ReadIndex request waits on the leader that was asked; a new leader never answers it.
            for read in self._reads.values():
                if not read.done():
                    read.set_exception(NotLeader(soft.leader_id))
            self._reads.clear()

    def _fail_pending_through(self, index: int) -> None:
        for pending_index in [i for i in self._pending if i <= index]:
            _, resolves = self._pending.pop(pending_index)
            error = OutcomeUnknown(f"entry {pending_index} was covered by a snapshot")
            for resolve in resolves:
                _answer(resolve, None, error)

    def _snapshot_due(self) -> bool:
        return self.applied_index - self.snapshot_index >= self.snapshot_every

    def _maybe_snapshot(self) -> None:
        if not self._snapshot_due():
            return
        if self._snapshot_capture is None:
            self.take_snapshot()
        else:
            self._start_snapshot_capture()

    def _start_snapshot_capture(self) -> bool:
        """Start capturing a snapshot of the state as of now; False if none started (one is in
        flight, there is no capture hook, or the capture cannot start now)."""
        if self._snapshot_capture is None or self._snapshot_in_flight is not None:
            return False
        index = self.applied_index
        if not self._snapshot_capture(index, self._snapshot_captured):
            return False
        self._snapshot_in_flight = index
        return True

    def _snapshot_captured(self, index: int, data: bytes | None) -> None:
        """A snapshot capture started at ``index`` finished (``data`` None: it failed; the next
        Ready retries). Its file is written on the storage's worker thread unless a snapshot
        installed from the leader meanwhile covers it."""
        if data is None or index <= self.snapshot_index or self.fatal is not None:
            self._snapshot_in_flight = None
            return
        try:
            pending = self.storage.begin_snapshot(index=index, conf_state=self.conf_at(index), data=data)
        except BaseException as error:
            self._snapshot_in_flight = None
            self._stop(error)
            return
        loop = asyncio.get_running_loop()

        def written(_: object) -> None:  # on the worker thread (or wherever the future completes)
            with contextlib.suppress(RuntimeError):  # the loop is closed: the node has stopped
                loop.call_soon_threadsafe(self._snapshot_written, pending)

        pending.written.add_done_callback(written)

    def _snapshot_written(self, pending: PendingSnapshot) -> None:
        """Back on the loop: the snapshot file is durable (or failed); adopt it and compact."""
        self._snapshot_in_flight = None
        if self.fatal is not None:
            return
        try:
            adopted = self.storage.finish_snapshot(pending, keep_entries=self.keep_entries)
        except BaseException as error:
            self._stop(error)
            return
        if adopted:
            self.snapshot_index = pending.index
            self.stats.snapshots_taken += 1

    def take_snapshot(self) -> None:
        """Snapshot the applied state now and compact the log behind it."""
        index = self.applied_index
        if index <= self.snapshot_index:
            return
        self.storage.save_snapshot(
            index=index,
            conf_state=self.conf_at(index),
            data=self.state.snapshot(),
            keep_entries=self.keep_entries,
        )
        self.snapshot_index = index
        self.stats.snapshots_taken += 1

    def conf_at(self, index: int) -> raft.ConfState:
        """Membership in effect at log ``index`` (changes take effect when appended)."""
        conf = self.node.conf_history[0][1]
        for changed_at, changed_conf in self.node.conf_history:
            if changed_at <= index:
                conf = changed_conf
        return conf

    # -- views -----------------------------------------------------------------------------------
    @property
    def is_leader(self) -> bool:
        return self.soft_state.role is raft.Role.LEADER

    @property
    def leader_id(self) -> int | None:
        return self.soft_state.leader_id

    def status(self) -> raft.Status:
        return self.node.status()


def _group(
    proposals: list[tuple[bytes, Resolve]], *, max_items: int, max_bytes: int
) -> list[list[tuple[bytes, Resolve]]]:
    """Split proposals, in order, into groups of at most ``max_items`` and about ``max_bytes``."""
    groups: list[list[tuple[bytes, Resolve]]] = [[]]
    size = 0
    for proposal in proposals:
        if groups[-1] and (len(groups[-1]) >= max_items or size + len(proposal[0]) > max_bytes):
            groups.append([])
            size = 0
        groups[-1].append(proposal)
        size += len(proposal[0])
    return groups


def _nothing() -> None:
    pass


def _ignore_index(_: int) -> None:
    pass


def _answer(resolve: Resolve, outcome: bytes | None, error: BaseException | None) -> None:
    """Tell a proposer; a failing proposer callback is logged, never allowed to stop the loop."""
    try:
        resolve(outcome, error)
    except Exception:
        log.exception("a proposal's outcome callback failed")


def _settle(future: asyncio.Future[bytes], outcome: bytes | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert outcome is not None
        future.set_result(outcome)
