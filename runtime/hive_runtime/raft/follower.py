"""Follower and candidate behaviour: accepting appends (§5.3), heartbeats, chunked snapshots (§7),
counting votes (§5.2, §9.6) and starting an election on TimeoutNow (§3.10)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hive_runtime.raft.errors import SafetyViolation
from hive_runtime.raft.messages import Message, MessageType
from hive_runtime.raft.types import ReadState, Role, Snapshot

if TYPE_CHECKING:
    from hive_runtime.raft.node import RaftNode


def step_follower(node: RaftNode, message: Message) -> None:
    kind = message.type
    if kind in (MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT):
        node.election_elapsed = 0
        node.leader_id = message.sender
        if kind is MessageType.APPEND:
            handle_append(node, message)
        elif kind is MessageType.HEARTBEAT:
            handle_heartbeat(node, message)
        else:
            handle_snapshot_chunk(node, message)
    elif kind is MessageType.TIMEOUT_NOW:
        if node.promotable():
            node.campaign_start(pre_vote=False, transfer=True)
    elif kind is MessageType.READ_INDEX_RESP:
        node.read_states.append(ReadState(message.index, message.context))
    elif kind is MessageType.READ_INDEX and node.leader_id is not None:
        forwarded = Message(
            MessageType.READ_INDEX, message.sender, node.leader_id, node.term, context=message.context
        )
        node.send(forwarded)


def step_candidate(node: RaftNode, message: Message) -> None:
    kind = message.type
    if kind in (MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT):
        # §5.2: a candidate that hears from a leader of its term returns to follower.
        node.become_follower(message.term, message.sender)
        step_follower(node, message)
        return
    expected = MessageType.PRE_VOTE_RESP if node.role is Role.PRE_CANDIDATE else MessageType.VOTE_RESP
    if kind is expected:
        node.votes[message.sender] = not message.reject
        node.poll()


def handle_append(node: RaftNode, message: Message) -> None:
    log = node.log
    if message.index < log.committed:
        node.send(Message(MessageType.APPEND_RESP, node.id, message.sender, node.term, index=log.committed))
        return
    if log.match_term(message.index, message.log_term):
        entries = message.entries
        conflict = log.find_conflict(entries)
        if conflict:
            if conflict <= log.committed:
                raise SafetyViolation(f"entry {conflict} conflicts with committed prefix {log.committed}")
            node.append_to_log(list(entries[conflict - message.index - 1 :]))
        last_new = message.index + len(entries)
        log.commit_to(min(message.commit, last_new))
        node.send(Message(MessageType.APPEND_RESP, node.id, message.sender, node.term, index=last_new))
        return
    # Fast backtracking: point the leader at the last entry that may match (thesis §5.3 note).
    hint = log.find_conflict_by_term(min(message.index, log.last_index()), message.log_term)
    node.send(
        Message(
            MessageType.APPEND_RESP,
            node.id,
            message.sender,
            node.term,
            index=message.index,
            reject=True,
            reject_hint=hint,
            log_term=log.term(hint) or 0,
        )
    )


def handle_heartbeat(node: RaftNode, message: Message) -> None:
    node.log.commit_to(message.commit)
    node.send(
        Message(MessageType.HEARTBEAT_RESP, node.id, message.sender, node.term, context=message.context)
    )


def handle_snapshot_chunk(node: RaftNode, message: Message) -> None:
    chunk = message.snapshot
    if chunk is None:
        return
    meta = chunk.meta
    incoming = node.incoming_snapshot
    if chunk.offset == 0:
        incoming = (meta, bytearray(chunk.data))
    elif incoming is not None and incoming[0] == meta and len(incoming[1]) == chunk.offset:
        incoming[1].extend(chunk.data)
    else:
        expected = len(incoming[1]) if incoming is not None and incoming[0] == meta else 0
        node.send(
            Message(
                MessageType.SNAPSHOT_RESP,
                node.id,
                message.sender,
                node.term,
                index=meta.index,
                reject=True,
                reject_hint=expected,
            )
        )
        return
    node.incoming_snapshot = incoming
    if not chunk.done:
        received = len(incoming[1])
        node.send(
            Message(
                MessageType.SNAPSHOT_RESP,
                node.id,
                message.sender,
                node.term,
                index=meta.index,
                reject_hint=received,
            )
        )
        return
    node.incoming_snapshot = None
    snapshot = Snapshot(meta, bytes(incoming[1]))
    index = node.log.last_index() if restore(node, snapshot) else node.log.committed
    node.send(Message(MessageType.APPEND_RESP, node.id, message.sender, node.term, index=index))


def restore(node: RaftNode, snapshot: Snapshot) -> bool:
    """Install ``snapshot`` unless our log already covers it (§7); True if installed."""
    log = node.log
    meta = snapshot.meta
    if meta.index <= log.committed:
        return False
    if log.match_term(meta.index, meta.term):
        log.commit_to(meta.index)  # our log already has it: just fast-forward the commit
        return False
    log.restore(snapshot)
    node.reset_conf_history(meta.index, meta.conf_state)
    return True
