"""Leader behaviour: replication (§5.3), commitment (§5.4.2), heartbeats and check-quorum (§6.2),
snapshot streaming in chunks (§7), ReadIndex (§6.4) and leadership transfer (§3.10)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hive_runtime.raft.errors import CompactedError
from hive_runtime.raft.messages import Message, MessageType, SnapshotChunk
from hive_runtime.raft.progress import Progress, ProgressState
from hive_runtime.raft.quorum import committed_index, has_quorum
from hive_runtime.raft.read_only import ReadRequest
from hive_runtime.raft.types import Entry, EntryKind, ReadState, Role, Snapshot

if TYPE_CHECKING:
    from hive_runtime.raft.node import RaftNode


# ---------------------------------------------------------------- progress set
def init_progress(node: RaftNode) -> None:
    last = node.log.last_index()
    node.progress = {}
    for member in sorted(node.conf.members | {node.id}):
        progress = Progress(next_index=last + 1, is_learner=member in node.conf.learners)
        node.progress[member] = progress
    own = node.progress[node.id]
    own.match = node.log.persisted_index()
    own.become_replicate()
    own.recent_active = True


def sync_progress(node: RaftNode) -> None:
    """Track exactly the current members after a config change (effective on append, §4.1)."""
    last = node.log.last_index()
    for member in sorted(node.conf.members):
        if member not in node.progress:
            node.progress[member] = Progress(next_index=last, is_learner=member in node.conf.learners)
            node.progress[member].recent_active = True
        node.progress[member].is_learner = member in node.conf.learners
    for member in sorted(node.progress):
        if member not in node.conf.members and member != node.id:
            del node.progress[member]
    if node.lead_transferee is not None and node.lead_transferee not in node.conf.voters:
        node.lead_transferee = None
    if maybe_commit(node):
        broadcast_append(node)


# ---------------------------------------------------------------- appending and committing
def append_entries(node: RaftNode, items: list[tuple[EntryKind, bytes]]) -> int:
    last = node.log.last_index()
    entries = [Entry(node.term, last + offset, kind, data) for offset, (kind, data) in enumerate(items, 1)]
    node.append_to_log(entries)
    if node.role is not Role.LEADER:
        return entries[-1].index  # config change stepped us down (cannot happen for normal data)
    # The leader's own copy counts toward a commit only once the driver reports it durable
    # (``on_persisted``), so its appends may go out while its own fsync runs (thesis §10.2.1).
    broadcast_append(node)
    return entries[-1].index


def on_persisted(node: RaftNode, index: int) -> None:
    """The leader's log is durable through ``index``: count itself, and commit if that completes
    a majority (always the case for a single voter)."""
    if (
        node.progress[node.id].maybe_update(index)
        and maybe_commit(node)
        and node.role is Role.LEADER
        and node.config.broadcast_commit
    ):
        broadcast_append(node)


def maybe_commit(node: RaftNode) -> bool:
    """Advance the commit index to what a majority matched, if it is of the current term (§5.4.2)."""
    progress = node.progress
    index = committed_index(node.conf.voters, lambda voter: progress[voter].match if voter in progress else 0)
    if index <= node.log.committed:
        return False
    if not node.commits_by_counting(index):
        return False  # never commit an earlier term's entry by counting replicas (Figure 8)
    node.log.commit_to(index)
    _after_commit(node)
    return True


def _after_commit(node: RaftNode) -> None:
    if node.log.term(node.log.committed) == node.term and node.waiting_reads:
        waiting, node.waiting_reads = node.waiting_reads, []
        for context, requester in waiting:
            handle_read_request(node, context, requester)
    # §4.2.2: a leader removed from the voters steps down once the change is committed.
    if node.id not in node.conf.voters and node.conf_history[-1][0] <= node.log.committed:
        node.become_follower(node.term, None)


# ---------------------------------------------------------------- sending
def broadcast_append(node: RaftNode) -> None:
    """Send every peer what it lacks: one message, then (optimistic replication) the rest of the
    new entries in further messages of at most ``max_entries_per_message``."""
    for peer in sorted(node.progress):
        if peer != node.id:
            send_append(node, peer)
            _send_remaining(node, peer)


def _send_remaining(node: RaftNode, peer: int) -> None:
    for _ in range(1024):
        if not send_append(node, peer, send_if_empty=False):
            break


def send_append(node: RaftNode, to: int, *, send_if_empty: bool = True) -> bool:
    progress = node.progress[to]
    if progress.is_paused():
        return False
    log = node.log
    previous = progress.next - 1
    previous_term = log.term(previous)
    entries: list[Entry] = []
    try:
        entries = log.entries_from(progress.next, node.config.max_entries_per_message)
    except CompactedError:
        previous_term = None
    if previous_term is None:
        start_snapshot(node, to)
        return True
    if not entries and not send_if_empty:
        return False
    node.send(
        Message(
            MessageType.APPEND,
            node.id,
            to,
            node.term,
            log_term=previous_term,
            index=previous,
            entries=tuple(entries),
            commit=log.committed,
        )
    )
    if progress.state is ProgressState.REPLICATE and entries:
        progress.next = entries[-1].index + 1
    elif progress.state is ProgressState.PROBE:
        progress.paused = True
    return True


def start_snapshot(node: RaftNode, to: int) -> None:
    snapshot = node.log.unstable.snapshot or node.log.storage.snapshot()
    node.progress[to].become_snapshot(snapshot)
    send_snapshot_chunk(node, to)


def send_snapshot_chunk(node: RaftNode, to: int) -> None:
    progress = node.progress[to]
    snapshot: Snapshot | None = progress.snapshot
    if snapshot is None:
        return
    offset = progress.snapshot_offset
    size = node.config.snapshot_chunk_bytes
    data = snapshot.data[offset : offset + size]
    chunk = SnapshotChunk(snapshot.meta, offset, data, offset + size >= len(snapshot.data))
    node.send(Message(MessageType.SNAPSHOT, node.id, to, node.term, snapshot=chunk))


def broadcast_heartbeat(node: RaftNode, context: bytes) -> None:
    for peer in sorted(node.progress):
        if peer != node.id:
            commit = min(node.progress[peer].match, node.log.committed)
            node.send(
                Message(MessageType.HEARTBEAT, node.id, peer, node.term, commit=commit, context=context)
            )


# ---------------------------------------------------------------- ticking
def tick_leader(node: RaftNode) -> None:
    node.heartbeat_elapsed += 1
    node.election_elapsed += 1
    if node.election_elapsed >= node.config.election_ticks:
        node.election_elapsed = 0
        if node.config.check_quorum:
            # §6.2: step down if a majority has not been heard from for an election timeout.
            active = has_quorum(
                node.conf.voters,
                lambda voter: (
                    voter == node.id or (voter in node.progress and node.progress[voter].recent_active)
                ),
            )
            for peer, progress in node.progress.items():
                if peer != node.id:
                    progress.recent_active = False
            if not active:
                node.become_follower(node.term, None)
                return
        node.lead_transferee = None  # §3.10: abort a transfer that did not finish in time
    if node.heartbeat_elapsed >= node.config.heartbeat_ticks:
        node.heartbeat_elapsed = 0
        broadcast_heartbeat(node, node.read_only.last_context())


# ---------------------------------------------------------------- reads (§6.4)
def handle_read_request(node: RaftNode, context: bytes, requester: int) -> None:
    if node.log.term(node.log.committed) != node.term:
        node.waiting_reads.append((context, requester))  # wait for our no-op to commit
        return
    request = ReadRequest(node.log.committed, requester, context, {node.id})
    if not node.read_only.add(request):
        return
    if has_quorum(node.conf.voters, lambda voter: voter in request.acks):
        _release_reads(node, context)
    else:
        broadcast_heartbeat(node, context)


def _release_reads(node: RaftNode, context: bytes) -> None:
    for request in node.read_only.release_through(context):
        if request.requester == node.id:
            node.read_states.append(ReadState(request.index, request.context))
        else:
            node.send(
                Message(
                    MessageType.READ_INDEX_RESP,
                    node.id,
                    request.requester,
                    node.term,
                    index=request.index,
                    context=request.context,
                )
            )


# ---------------------------------------------------------------- message handling
def step_leader(node: RaftNode, message: Message) -> None:
    kind = message.type
    if kind is MessageType.READ_INDEX:
        handle_read_request(node, message.context, message.sender)
        return
    progress = node.progress.get(message.sender)
    if progress is None:
        return
    if kind is MessageType.APPEND_RESP:
        progress.recent_active = True
        _handle_append_response(node, message, progress)
    elif kind is MessageType.HEARTBEAT_RESP:
        progress.recent_active = True
        progress.paused = False
        if progress.state is ProgressState.SNAPSHOT:
            send_snapshot_chunk(node, message.sender)  # resend a chunk that may have been lost
        elif progress.match < node.log.last_index():
            send_append(node, message.sender)
        if message.context:
            request = node.read_only.ack(message.context, message.sender)
            if request is not None and has_quorum(node.conf.voters, lambda voter: voter in request.acks):
                _release_reads(node, message.context)
    elif kind is MessageType.SNAPSHOT_RESP:
        progress.recent_active = True
        snapshot = progress.snapshot
        if (
            progress.state is ProgressState.SNAPSHOT
            and snapshot is not None
            and snapshot.meta.index == message.index
        ) and (message.reject or message.reject_hint > progress.snapshot_offset):
            progress.snapshot_offset = message.reject_hint
            if progress.snapshot_offset < len(snapshot.data) or message.reject:
                send_snapshot_chunk(node, message.sender)


def _handle_append_response(node: RaftNode, message: Message, progress: Progress) -> None:
    sender = message.sender
    if message.reject:
        probe = message.reject_hint
        if message.log_term > 0:
            probe = node.log.find_conflict_by_term(message.reject_hint, message.log_term)
        if progress.maybe_decrease_to(message.index, probe):
            if progress.state is ProgressState.REPLICATE:
                progress.become_probe()
            send_append(node, sender)
        return
    was_paused = progress.is_paused()
    if not progress.maybe_update(message.index):
        return
    if progress.state is ProgressState.PROBE:
        progress.become_replicate()
    elif (
        progress.state is ProgressState.SNAPSHOT
        and progress.snapshot is not None
        and progress.match >= progress.snapshot.meta.index
    ):
        progress.become_probe()
        progress.become_replicate()
    if maybe_commit(node) and node.config.broadcast_commit:
        if node.role is not Role.LEADER:
            return
        broadcast_append(node)
    elif node.role is not Role.LEADER:
        return
    elif was_paused:
        send_append(node, sender)
    _send_remaining(node, sender)
    if sender == node.lead_transferee and progress.match == node.log.last_index():
        node.send(Message(MessageType.TIMEOUT_NOW, node.id, sender, node.term))
