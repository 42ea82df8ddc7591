"""Raft's safety properties (Figure 3 of the paper) checked directly while the simulation runs.

- Election safety: at most one leader per term (§5.2).
- Log matching: same index and term implies identical prefixes (§5.3).
- Leader completeness: a new leader holds every entry committed anywhere before (§5.4); a
  node's durable commit index is what counts as "committed".
- State machine safety: every node applies the same entry at a given index (§5.4.3).
"""

from __future__ import annotations

from hive_runtime.raft import Entry, RaftNode


class SafetyViolationFound(Exception):
    """Raised inside the simulation when an invariant breaks; the run stops there."""


class SafetyMonitor:
    """Checks the properties as events happen; with ``enabled=False`` it only counts elections
    (tests use that to show the linearizability checker catches bugs on its own)."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.leaders: dict[int, int] = {}
        self.applied: dict[int, tuple[int, int, bytes]] = {}
        self.committed: dict[int, int] = {}  # index -> term, from durable commit indices
        self.max_committed = 0

    @property
    def elections(self) -> int:
        return len(self.leaders)

    def on_leader(self, node: RaftNode) -> None:
        known = self.leaders.setdefault(node.term, node.id)
        if not self.enabled:
            return
        if known != node.id:
            raise SafetyViolationFound(
                f"election safety: nodes {known} and {node.id} both lead term {node.term}"
            )
        index = self.max_committed
        if index:
            term = node.log.term(index)
            expected = self.committed[index]
            compacted = index < node.log.first_index() - 1
            if not compacted and term != expected:
                raise SafetyViolationFound(
                    f"leader completeness: new leader {node.id} (term {node.term}) has term {term} at "
                    f"index {index}, which was committed with term {expected}"
                )

    def on_apply(self, node_id: int, entry: Entry) -> None:
        if not self.enabled:
            return
        record = (entry.term, int(entry.kind), entry.data)
        known = self.applied.setdefault(entry.index, record)
        if known != record:
            raise SafetyViolationFound(
                f"state machine safety: node {node_id} applied term {entry.term} at index {entry.index}, "
                f"another node applied term {known[0]} there"
            )
        self.on_commit(node_id, entry.index, entry.term)

    def on_commit(self, node_id: int, index: int, term: int) -> None:
        """``node_id`` durably recorded ``index`` (holding ``term``) as committed."""
        if not self.enabled:
            return
        known = self.committed.setdefault(index, term)
        if known != term:
            raise SafetyViolationFound(
                f"commit safety: node {node_id} committed term {term} at index {index}, "
                f"term {known} was committed there before"
            )
        self.max_committed = max(self.max_committed, index)

    def check_log_matching(self, nodes: list[RaftNode]) -> None:
        if not self.enabled:
            return
        for position, first in enumerate(nodes):
            for second in nodes[position + 1 :]:
                _check_pair(first, second)


def _check_pair(a: RaftNode, b: RaftNode) -> None:
    lo = max(a.log.first_index(), b.log.first_index())
    hi = min(a.log.last_index(), b.log.last_index())
    if hi < lo:
        return
    ours = a.log.slice(lo, hi + 1)
    theirs = b.log.slice(lo, hi + 1)
    agreed = False
    for mine, other in zip(reversed(ours), reversed(theirs), strict=True):
        if mine.term == other.term:
            agreed = True
        if agreed and mine != other:
            raise SafetyViolationFound(
                f"log matching: nodes {a.id} and {b.id} share a later (index, term) "
                f"but differ at index {mine.index}"
            )
