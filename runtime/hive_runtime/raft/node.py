"""The sans-I/O Raft node: public API, role transitions, elections, and the Ready/advance cycle.

Role-specific message handling lives in :mod:`.leader` and :mod:`.follower`; this module holds
what every role shares. The node never performs I/O: it reads stable state through a
:class:`~hive_runtime.raft.storage.Storage`, and everything to persist, send or apply is handed
to the driver in a :class:`~hive_runtime.raft.ready.Ready`.
"""

from __future__ import annotations

from hive_runtime.raft import follower, leader
from hive_runtime.raft.config import RaftConfig, RandomSource
from hive_runtime.raft.errors import ProposalDropped, SafetyViolation
from hive_runtime.raft.log import RaftLog
from hive_runtime.raft.messages import Message, MessageType
from hive_runtime.raft.progress import Progress
from hive_runtime.raft.quorum import VoteResult, vote_result
from hive_runtime.raft.read_only import ReadOnlyQueue
from hive_runtime.raft.ready import Ready, Status
from hive_runtime.raft.storage import Storage
from hive_runtime.raft.types import (
    ConfChange,
    ConfChangeKind,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    ReadState,
    Role,
    SnapshotMeta,
    SoftState,
    decode_conf_entry,
    encode_conf_entry,
)

TRANSFER_CONTEXT = b"transfer"  # marks elections started by TimeoutNow (§3.10)

# A leader's outbound replication promises nothing about its own disk (it counts itself toward
# a commit only after ``advance``), so these may be sent before the Ready is persisted.
EARLY_MESSAGE_TYPES = frozenset({MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT})


class RaftNode:
    """One Raft participant. Drive it with :meth:`step`, :meth:`tick` and the Ready cycle."""

    def __init__(self, config: RaftConfig, storage: Storage, *, rng: RandomSource) -> None:
        self.config = config
        self.id = config.node_id
        self.rng = rng
        self.log = RaftLog(storage)
        hard_state, base_conf = storage.initial_state()
        snapshot_index = storage.snapshot().meta.index
        self.term = hard_state.term
        self.vote = hard_state.vote
        self.log.committed = max(snapshot_index, min(hard_state.commit, self.log.last_index()))
        self.log.applied = snapshot_index
        # Membership is effective on append (thesis §4.1): the latest config entry in the log wins.
        self.conf_history: list[tuple[int, ConfState]] = [(snapshot_index, base_conf)]
        first, last = storage.first_index(), storage.last_index()
        stored = storage.entries(max(first, snapshot_index + 1), last + 1) if last >= first else []
        for entry in stored:
            if entry.kind is EntryKind.CONF_CHANGE:
                self.conf_history.append((entry.index, self._conf_after(entry)))
        self.conf = self.conf_history[-1][1]

        self.role = Role.FOLLOWER
        self.leader_id: int | None = None
        self.progress: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = config.election_ticks
        self.lead_transferee: int | None = None
        self.read_only = ReadOnlyQueue()
        self.waiting_reads: list[tuple[bytes, int]] = []  # reads before a commit in this term
        self.incoming_snapshot: tuple[SnapshotMeta, bytearray] | None = None
        self.messages: list[Message] = []
        self.read_states: list[ReadState] = []
        self._persisted_hard_state = HardState(self.term, self.vote, self.log.committed)
        self._reported_soft_state = SoftState(None, Role.FOLLOWER)
        self._outstanding: Ready | None = None
        self.become_follower(self.term, None)

    # ---------------------------------------------------------------- public API
    def tick(self) -> None:
        """Advance logical time by one tick (heartbeats, election timeouts, check-quorum)."""
        if self.role is Role.LEADER:
            leader.tick_leader(self)
        else:
            self.election_elapsed += 1
            if self.promotable() and self.election_elapsed >= self.randomized_election_timeout:
                self.election_elapsed = 0
                self.campaign_start(pre_vote=self.config.pre_vote)

    def step(self, message: Message) -> None:
        """Process one message received from a peer."""
        if message.to != self.id or message.sender == self.id:
            return
        if message.term > self.term:
            if not self._accept_higher_term(message):
                return
        elif message.term < self.term:
            self._answer_stale(message)
            return
        if message.type in (MessageType.VOTE, MessageType.PRE_VOTE):
            self._handle_vote_request(message)
        elif self.role is Role.LEADER:
            leader.step_leader(self, message)
        elif self.role is Role.FOLLOWER:
            follower.step_follower(self, message)
        else:
            follower.step_candidate(self, message)

    def propose(self, data: bytes) -> int:
        """Append ``data`` to the log as leader; returns its index. Raises ProposalDropped."""
        return self.propose_batch([data])

    def propose_batch(self, items: list[bytes]) -> int:
        """Append several entries at once (one replication round); returns the last index."""
        self._check_can_propose()
        return leader.append_entries(self, [(EntryKind.NORMAL, data) for data in items])

    def propose_conf_change(self, change: ConfChange) -> int:
        """Propose a single-server membership change (thesis §4.1); returns its log index."""
        self._check_can_propose()
        if any(index > self.log.committed for index, _ in self.conf_history[1:]):
            raise ProposalDropped("a membership change is still uncommitted", leader_hint=self.id)
        if self.log.term(self.log.committed) != self.term:
            raise ProposalDropped("leader has not committed an entry of its term yet", leader_hint=self.id)
        node = change.node_id
        if change.kind is ConfChangeKind.ADD_VOTER and node in self.conf.voters:
            raise ValueError(f"node {node} is already a voter")
        if change.kind is ConfChangeKind.ADD_LEARNER and node in self.conf.members:
            raise ValueError(f"node {node} is already a member")
        if change.kind is ConfChangeKind.REMOVE:
            if node not in self.conf.members:
                raise ValueError(f"node {node} is not a member")
            if self.conf.voters == {node}:
                raise ValueError("cannot remove the last voter")
        payload = encode_conf_entry(change, self.conf.apply(change))
        return leader.append_entries(self, [(EntryKind.CONF_CHANGE, payload)])

    def read_index(self, context: bytes) -> None:
        """Request a linearizable read (§6.4); a ReadState with ``context`` appears in a Ready.

        ``context`` must be unique across the cluster while the request is pending.
        """
        if self.role is Role.LEADER:
            leader.handle_read_request(self, context, self.id)
        elif self.leader_id is not None:
            self.send(Message(MessageType.READ_INDEX, self.id, self.leader_id, self.term, context=context))
        else:
            raise ProposalDropped("no known leader to confirm the read", leader_hint=None)

    def transfer_leadership(self, target: int) -> None:
        """Hand leadership to ``target`` (§3.10): catch it up, then send TimeoutNow."""
        if self.role is not Role.LEADER:
            raise ProposalDropped("not the leader", leader_hint=self.leader_id)
        if target not in self.conf.voters:
            raise ValueError(f"node {target} is not a voter")
        if target in (self.id, self.lead_transferee):
            return
        self.lead_transferee = target
        self.election_elapsed = 0
        progress = self.progress[target]
        if progress.match == self.log.last_index():
            self.send(Message(MessageType.TIMEOUT_NOW, self.id, target, self.term))
        else:
            leader.send_append(self, target)

    def campaign(self) -> None:
        """Start an election now (used to bootstrap a single node or by tests)."""
        if self.role is not Role.LEADER and self.promotable():
            self.campaign_start(pre_vote=self.config.pre_vote)

    # ---------------------------------------------------------------- Ready cycle
    def has_ready(self) -> bool:
        if self._outstanding is not None:
            return False
        log = self.log
        if self.messages or log.unstable.entries or log.unstable.snapshot is not None or self.read_states:
            return True
        if self._committed_upto() > log.applied:
            return True
        persisted = self._persisted_hard_state
        if persisted.term != self.term or persisted.vote != self.vote or persisted.commit != log.committed:
            return True
        reported = self._reported_soft_state
        return reported.role is not self.role or reported.leader_id != self.leader_id

    def ready(self) -> Ready:
        """Take the next batch of work; call :meth:`advance` with it when it is done."""
        if self._outstanding is not None:
            raise RuntimeError("ready() called again before advance() of the previous Ready")
        log = self.log
        snapshot = log.unstable.snapshot
        lo = max(log.applied + 1, log.first_index())
        hi = self._committed_upto()
        committed = tuple(log.slice(lo, hi + 1)) if hi >= lo else ()
        hard_state = self.hard_state()
        persisted: HardState | None = None
        if hard_state != self._persisted_hard_state:
            persisted = self._hard_state_to_persist(hard_state)
        early = tuple(message for message in self.messages if message.type in EARLY_MESSAGE_TYPES)
        late = tuple(message for message in self.messages if message.type not in EARLY_MESSAGE_TYPES)
        ready = Ready(
            soft_state=self.soft_state(),
            hard_state=persisted,
            entries=tuple(log.unstable.entries),
            snapshot=snapshot,
            messages=late,
            early_messages=early,
            committed_entries=committed,
            read_states=tuple(self.read_states),
        )
        self.messages = []
        self.read_states = []
        self._outstanding = ready
        self._reported_soft_state = ready.soft_state
        if persisted is not None:
            self._persisted_hard_state = hard_state
        return ready

    def advance(self, ready: Ready) -> None:
        """Acknowledge that ``ready`` was persisted, sent and applied."""
        if ready is not self._outstanding:
            raise RuntimeError("advance() must be given the Ready returned by the last ready()")
        log = self.log
        if ready.snapshot is not None:
            log.unstable.stable_snapshot_to(ready.snapshot.meta.index)
            log.applied = max(log.applied, ready.snapshot.meta.index)
        if ready.entries:
            last = ready.entries[-1]
            log.unstable.stable_to(last.index, last.term)
        if ready.committed_entries:
            log.applied = max(log.applied, ready.committed_entries[-1].index)
        self._outstanding = None
        if ready.entries and self.role is Role.LEADER and self.id in self.progress:
            leader.on_persisted(self, log.persisted_index())

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def soft_state(self) -> SoftState:
        return SoftState(self.leader_id, self.role)

    def status(self) -> Status:
        matches = {node: progress.match for node, progress in self.progress.items()}
        return Status(
            node_id=self.id,
            term=self.term,
            vote=self.vote,
            role=self.role,
            leader_id=self.leader_id,
            commit=self.log.committed,
            applied=self.log.applied,
            last_index=self.log.last_index(),
            conf_state=self.conf,
            match_index=matches,
        )

    # ---------------------------------------------------------------- shared internals
    def send(self, message: Message) -> None:
        self.messages.append(message)

    def promotable(self) -> bool:
        return self.id in self.conf.voters

    # Rules a test subclass may break on purpose (the simulator's planted bugs, hive_sim.planted);
    # each is one small method so the rule is stated once and nothing here knows about bugs.
    def _committed_upto(self) -> int:
        """§5.3: only committed entries go to the state machine."""
        return self.log.committed

    def _hard_state_to_persist(self, hard_state: HardState) -> HardState:
        """Figure 2: term and vote are persisted before anything that depends on them is sent."""
        return hard_state

    def commits_by_counting(self, index: int) -> bool:
        """§5.4.2: a leader commits by counting replicas only an entry of its own term (Figure 8)."""
        return self.log.term(index) == self.term

    def _may_vote_for(self, message: Message, *, pre: bool) -> bool:
        """§5.2: one vote per term (a pre-vote promises nothing)."""
        return (
            self.vote == message.sender
            or (self.vote is None and self.leader_id is None)
            or (pre and message.term > self.term)
        )

    def _check_can_propose(self) -> None:
        if self.role is not Role.LEADER:
            raise ProposalDropped("not the leader", leader_hint=self.leader_id)
        if self.lead_transferee is not None:
            raise ProposalDropped("leadership transfer in progress", leader_hint=self.lead_transferee)
        if self.id not in self.conf.voters:
            raise ProposalDropped("leader is leaving the cluster", leader_hint=None)

    @staticmethod
    def _conf_after(entry: Entry) -> ConfState:
        return decode_conf_entry(entry.data)[1]

    def append_to_log(self, entries: list[Entry]) -> None:
        """Append (possibly truncating) and make any config entries effective (§4.1)."""
        if not entries:
            return
        first = entries[0].index
        if first <= self.log.committed:
            raise SafetyViolation(f"append at {first} would overwrite committed index {self.log.committed}")
        self.log.append(entries)
        while len(self.conf_history) > 1 and self.conf_history[-1][0] >= first:
            self.conf_history.pop()
        for entry in entries:
            if entry.kind is EntryKind.CONF_CHANGE:
                self.conf_history.append((entry.index, self._conf_after(entry)))
        self.set_conf(self.conf_history[-1][1])

    def set_conf(self, conf: ConfState) -> None:
        if conf == self.conf:
            return
        self.conf = conf
        if self.role is Role.LEADER:
            leader.sync_progress(self)
        elif self.role is not Role.FOLLOWER and not self.promotable():
            self.become_follower(self.term, None)

    def reset_conf_history(self, index: int, conf: ConfState) -> None:
        self.conf_history = [(index, conf)]
        self.set_conf(conf)

    # ---------------------------------------------------------------- role transitions
    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = None
        self.leader_id = None
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.rng.randint(
            self.config.election_ticks, 2 * self.config.election_ticks - 1
        )
        self.votes = {}
        self.lead_transferee = None
        self.read_only = ReadOnlyQueue()
        self.waiting_reads = []
        self.progress = {}

    def become_follower(self, term: int, leader_id: int | None) -> None:
        self._reset(term)
        self.role = Role.FOLLOWER
        self.leader_id = leader_id

    def become_pre_candidate(self) -> None:
        # §9.6: a pre-candidate changes neither its term nor its vote.
        self.role = Role.PRE_CANDIDATE
        self.leader_id = None
        self.votes = {}
        self.randomized_election_timeout = self.rng.randint(
            self.config.election_ticks, 2 * self.config.election_ticks - 1
        )

    def become_candidate(self) -> None:
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE

    def become_leader(self) -> None:
        self._reset(self.term)
        self.role = Role.LEADER
        self.leader_id = self.id
        leader.init_progress(self)
        # §8: a no-op of the new term lets the leader commit (and serve reads) promptly.
        leader.append_entries(self, [(EntryKind.NO_OP, b"")])

    # ---------------------------------------------------------------- elections
    def campaign_start(self, *, pre_vote: bool, transfer: bool = False) -> None:
        if pre_vote:
            self.become_pre_candidate()
            self._solicit_votes(MessageType.PRE_VOTE, self.term + 1, b"")
        else:
            self.become_candidate()
            self._solicit_votes(MessageType.VOTE, self.term, TRANSFER_CONTEXT if transfer else b"")

    def _solicit_votes(self, kind: MessageType, term: int, context: bytes) -> None:
        self.votes = {self.id: True}
        if self.poll() is VoteResult.WON:
            return
        last_index, last_term = self.log.last_index(), self.log.last_term()
        for voter in sorted(self.conf.voters):
            if voter != self.id:
                self.send(
                    Message(kind, self.id, voter, term, log_term=last_term, index=last_index, context=context)
                )

    def poll(self) -> VoteResult:
        """Tally votes; on a win move on (pre-vote -> real election -> leader)."""
        result = vote_result(self.conf.voters, self.votes)
        if result is VoteResult.WON:
            if self.role is Role.PRE_CANDIDATE:
                self.campaign_start(pre_vote=False)
            else:
                self.become_leader()
        elif result is VoteResult.LOST:
            self.become_follower(self.term, None)
        return result

    def _accept_higher_term(self, message: Message) -> bool:
        kind = message.type
        if kind in (MessageType.VOTE, MessageType.PRE_VOTE):
            forced = message.context == TRANSFER_CONTEXT
            in_lease = (
                self.config.check_quorum
                and self.leader_id is not None
                and self.election_elapsed < self.config.election_ticks
            )
            if in_lease and not forced:
                return False  # §4.2.3: ignore disruptive candidates while a leader is heard
        if kind is MessageType.PRE_VOTE or (kind is MessageType.PRE_VOTE_RESP and not message.reject):
            return True  # pre-vote traffic never moves our term (§9.6)
        if kind in (MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT):
            self.become_follower(message.term, message.sender)
        else:
            self.become_follower(message.term, None)
        return True

    def _answer_stale(self, message: Message) -> None:
        if message.type in (MessageType.APPEND, MessageType.HEARTBEAT) and (
            self.config.check_quorum or self.config.pre_vote
        ):
            # Tell a deposed leader (or a node rejoining with a lower term) about our term.
            self.send(Message(MessageType.APPEND_RESP, self.id, message.sender, self.term))
        elif message.type is MessageType.PRE_VOTE:
            self.send(Message(MessageType.PRE_VOTE_RESP, self.id, message.sender, self.term, reject=True))

    def _handle_vote_request(self, message: Message) -> None:
        """§5.2 / §5.4.1: one vote per term, only for candidates whose log is up to date."""
        pre = message.type is MessageType.PRE_VOTE
        can_vote = self._may_vote_for(message, pre=pre)
        response = MessageType.PRE_VOTE_RESP if pre else MessageType.VOTE_RESP
        if can_vote and self.log.is_up_to_date(message.index, message.log_term):
            self.send(Message(response, self.id, message.sender, message.term))
            if not pre:
                self.election_elapsed = 0
                self.vote = message.sender
        else:
            self.send(Message(response, self.id, message.sender, self.term, reject=True))
