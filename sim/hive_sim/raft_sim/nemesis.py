"""The fault schedule: partitions (symmetric, one-way, flapping), lossy links, crashes and restarts,
membership changes and leadership transfers, all chosen by the seed while clients keep working."""

from __future__ import annotations

import random
from collections import Counter
from typing import TYPE_CHECKING, Any

from hive_runtime.raft import (
    ConfChange,
    ConfChangeKind,
    Entry,
    EntryKind,
    MemoryStorage,
    ProposalDropped,
    Ready,
    Role,
    decode_conf_entry,
)
from hive_sim.raft_sim.network import LinkFaults

if TYPE_CHECKING:
    from hive_sim.raft_sim.driver import SimNode
    from hive_sim.raft_sim.simulation import Simulation

_NEMESIS, _RESTART, _STOP, _FLAP = 5, 6, 7, 8


class Nemesis:
    def __init__(self, sim: Simulation, rng: random.Random) -> None:
        self.sim = sim
        self.rng = rng
        self.counts: Counter[str] = Counter()
        self.extra_nodes = 0
        self.last_action = ""
        self.flap_groups: list[set[int]] = []
        # Swarm testing: each seed picks its own fault intensity.
        self.interval_us = rng.choice([(20_000, 400_000), (200_000, 3_000_000), (1_000_000, 6_000_000)])
        self.restart_us = rng.choice([(1_000, 50_000), (100_000, 4_000_000)])
        self.crash_after_sync = rng.choice([0.0, 0.0, 0.003, 0.03])
        self.crash_after_vote = rng.choice([0.0, 0.02, 0.1, 0.3])
        if sim.config.fault_point_crash is not None:
            self.crash_after_vote = sim.config.fault_point_crash
        self.flap_isolates_leader = rng.random() < 0.5

    # ---------------------------------------------------------------- dispatch
    def handle(self, kind: int, a: Any, b: Any) -> None:
        sim = self.sim
        if kind == _NEMESIS:
            self._act()
            sim.trace.append((sim.now, "nemesis", self.last_action, None))
            sim.schedule(self.rng.randint(*self.interval_us), _NEMESIS)
        elif kind == _RESTART:
            node = sim.nodes[a]
            if node.raft is None and not node.removed:
                sim.start_node(node)
                self.counts["restarts"] += 1
        elif kind == _STOP:
            node = sim.nodes[a]
            node.removed = True
            if node.raft is not None:
                node.crash()
        elif kind == _FLAP:
            if a % 2 == 0:
                leader = self._leader()
                if self.flap_isolates_leader and leader is not None:
                    self.flap_groups = [{leader.node_id}, set(self._live_ids()) - {leader.node_id}]
                sim.network.partition(self.flap_groups)
            else:
                sim.network.heal()
            if a > 0:
                sim.schedule(self.rng.randint(50_000, 500_000), _FLAP, a - 1)

    def describe(self, name: str, a: Any, b: Any) -> str:
        return f"node={a}" if name in ("restart", "stop") else f"toggles_left={a}"

    def on_conf_applied(self, entry: Entry) -> None:
        change = decode_conf_entry(entry.data)[0]
        if change.kind is ConfChangeKind.REMOVE:
            node = self.sim.nodes.get(change.node_id)
            if node is not None and not node.removed:
                node.removed = True
                self.sim.schedule(self.rng.randint(0, 1_000_000), _STOP, change.node_id)

    # ---------------------------------------------------------------- actions
    def _act(self) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.18:
            self._partition()
        elif roll < 0.32:
            self.sim.network.heal()
            self.last_action = "heal all partitions"
        elif roll < 0.47:
            self._crash()
        elif roll < 0.57:
            self._link_faults()
        elif roll < 0.65:
            self._flap()
        elif roll < 0.72:
            a, b = rng.sample(self._live_ids(), 2) if len(self._live_ids()) >= 2 else (1, 1)
            if a != b:
                self.sim.network.block_one_way(a, b)
                self.counts["one_way_blocks"] += 1
            self.last_action = f"block {a}->{b} one way"
        elif roll < 0.87:
            self._membership()
        else:
            self._transfer()

    def _live_ids(self) -> list[int]:
        return sorted(node_id for node_id, node in self.sim.nodes.items() if not node.removed)

    def _leader(self) -> SimNode | None:
        leaders = [n for n in self.sim.nodes.values() if n.raft is not None and n.raft.role is Role.LEADER]
        return max(leaders, key=lambda n: n.raft.term if n.raft else 0) if leaders else None

    def _partition(self) -> None:
        ids = self._live_ids()
        self.rng.shuffle(ids)
        cut = self.rng.randint(1, max(1, len(ids) - 1))
        groups = [set(ids[:cut]), set(ids[cut:])]
        self.sim.network.partition(groups)
        self.counts["partitions"] += 1
        self.last_action = f"partition {sorted(groups[0])} | {sorted(groups[1])}"

    def _flap(self) -> None:
        ids = self._live_ids()
        isolated = self.rng.choice(ids)
        self.flap_groups = [{isolated}, set(ids) - {isolated}]
        self.sim.schedule(0, _FLAP, self.rng.randint(3, 12))
        self.counts["flapping"] += 1
        self.last_action = f"flapping partition isolating {isolated}"

    def _link_faults(self) -> None:
        rng = self.rng
        self.sim.network.faults = LinkFaults(
            drop=rng.choice([0.0, 0.01, 0.05, 0.2]),
            duplicate=rng.choice([0.0, 0.02, 0.1]),
            delay_min_us=rng.choice([50, 500]),
            delay_max_us=rng.choice([2_000, 20_000, 100_000]),
            slow=rng.choice([0.0, 0.01, 0.1]),
            slow_max_us=rng.choice([200_000, 1_500_000]),
        )
        self.counts["link_changes"] += 1
        self.last_action = f"link faults {self.sim.network.faults}"

    def _crash(self) -> None:
        alive = [node_id for node_id in self._live_ids() if self.sim.nodes[node_id].raft is not None]
        if not alive:
            self.last_action = "crash: nothing alive"
            return
        self.crash(self.rng.choice(alive))

    def crash(self, victim: int) -> None:
        self.sim.nodes[victim].crash()
        self.sim.schedule(self.rng.randint(*self.restart_us), _RESTART, victim)
        self.counts["crashes"] += 1
        self.last_action = f"crash node {victim}"

    def crash_point(self, ready: Ready, *, previous_vote: int | None, previous_commit: int) -> str | None:
        """Fault point after an fsync: crash "before" or "after" sending the Ready's messages.

        Three protocol moments get their own (per-seed) crash probability, like FoundationDB's
        BUGGIFY points: a vote just persisted (a voter restarting within the same election is
        where vote-persistence bugs show), a new leader's no-op just persisted and a leader's
        commit index just advanced (leaders dying there leave the divergent logs of the paper's
        Figure 8).
        """
        chance = self.crash_after_sync
        hard_state = ready.hard_state
        voted = hard_state is not None and hard_state.vote is not None and hard_state.vote != previous_vote
        elected = ready.soft_state.role is Role.LEADER and any(
            e.kind is EntryKind.NO_OP for e in ready.entries
        )
        committed = (
            ready.soft_state.role is Role.LEADER
            and hard_state is not None
            and hard_state.commit > previous_commit
        )
        if voted or elected or committed:
            chance = max(chance, self.crash_after_vote)
        if not chance or self.rng.random() >= chance:
            return None
        return "before" if self.rng.random() < 0.5 else "after"

    def _membership(self) -> None:
        sim = self.sim
        leader = self._leader()
        if leader is None or leader.raft is None:
            self.last_action = "membership change: no leader"
            return
        raft = leader.raft
        conf = raft.conf
        rng = self.rng
        change: ConfChange | None = None
        if conf.learners and rng.random() < 0.7:
            change = ConfChange(ConfChangeKind.ADD_VOTER, min(conf.learners))
        elif len(conf.voters) > 2 and rng.random() < 0.5:
            change = ConfChange(ConfChangeKind.REMOVE, rng.choice(sorted(conf.voters)))
        elif self.extra_nodes < sim.config.max_extra_nodes:
            new_id = max(sim.nodes) + 1
            change = ConfChange(ConfChangeKind.ADD_LEARNER, new_id)
        if change is None:
            self.last_action = "membership change: nothing to do"
            return
        try:
            raft.propose_conf_change(change)
        except (ProposalDropped, ValueError) as refused:
            self.last_action = f"membership change {change} refused: {refused}"
            return
        if change.kind is ConfChangeKind.ADD_LEARNER:
            self.extra_nodes += 1
            sim.add_node(change.node_id, MemoryStorage())
        self.counts["conf_changes"] += 1
        self.last_action = f"leader {leader.node_id} proposes {change.kind.name} {change.node_id}"
        sim.pump(leader)

    def _transfer(self) -> None:
        leader = self._leader()
        if leader is None or leader.raft is None:
            self.last_action = "transfer: no leader"
            return
        others = sorted(leader.raft.conf.voters - {leader.node_id})
        if not others:
            self.last_action = "transfer: no other voter"
            return
        target = self.rng.choice(others)
        try:
            leader.raft.transfer_leadership(target)
        except (ProposalDropped, ValueError) as refused:
            self.last_action = f"transfer refused: {refused}"
            return
        self.counts["transfers"] += 1
        self.last_action = f"leader {leader.node_id} transfers leadership to {target}"
        self.sim.pump(leader)
