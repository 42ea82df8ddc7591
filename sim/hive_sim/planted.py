"""Planted Raft bugs: subclasses of the production core that break one rule each, on purpose.

They exist to prove the simulator catches what it claims to (``tests/sim/test_planted_bugs.py``,
``hive sim --plant-bug NAME``). The production core (:class:`hive_runtime.raft.RaftNode`) knows
nothing about them: each rule it keeps is stated once, in a small method, and a planted bug is a
subclass overriding that method. :func:`node_class` composes the chosen bugs into one class the
simulator instantiates instead of ``RaftNode``.
"""

from __future__ import annotations

from enum import Enum

from hive_runtime.raft import HardState, Message, RaftNode


class PlantedBug(Enum):
    COMMIT_OLD_TERM_BY_COUNTING = "commit-old-term-by-counting"  # breaks §5.4.2 (Figure 8)
    SKIP_PERSIST_VOTE = "skip-persist-vote"  # breaks §5.2 / Figure 2 "persistent state"
    GRANT_TWO_VOTES = "grant-two-votes"  # breaks §5.2 election safety
    APPLY_BEFORE_COMMIT = "apply-before-commit"  # breaks §5.3 / state machine safety


class CommitsOldTermByCounting(RaftNode):
    def commits_by_counting(self, index: int) -> bool:
        return True  # commits an earlier term's entry once a majority holds it


class SkipsPersistingTheVote(RaftNode):
    def _hard_state_to_persist(self, hard_state: HardState) -> HardState:
        old = self._persisted_hard_state
        vote = old.vote if old.term == hard_state.term else None  # the new vote is never written
        return HardState(hard_state.term, vote, hard_state.commit)


class GrantsTwoVotes(RaftNode):
    def _may_vote_for(self, message: Message, *, pre: bool) -> bool:
        return True if not pre else super()._may_vote_for(message, pre=pre)  # ignores its vote


class AppliesBeforeCommit(RaftNode):
    def _committed_upto(self) -> int:
        return self.log.last_index()  # hands out entries nobody committed


_CLASSES: dict[PlantedBug, type[RaftNode]] = {
    PlantedBug.COMMIT_OLD_TERM_BY_COUNTING: CommitsOldTermByCounting,
    PlantedBug.SKIP_PERSIST_VOTE: SkipsPersistingTheVote,
    PlantedBug.GRANT_TWO_VOTES: GrantsTwoVotes,
    PlantedBug.APPLY_BEFORE_COMMIT: AppliesBeforeCommit,
}


def node_class(bugs: frozenset[PlantedBug]) -> type[RaftNode]:
    """``RaftNode`` itself when ``bugs`` is empty, else a subclass with every chosen bug."""
    if not bugs:
        return RaftNode
    bases = tuple(_CLASSES[bug] for bug in sorted(bugs, key=lambda bug: bug.value))
    return type("Planted_" + "_".join(base.__name__ for base in bases), bases, {})
