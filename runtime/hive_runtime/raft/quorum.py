"""Majority arithmetic: which index a majority has matched, whether a vote is won or lost."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import Enum


class VoteResult(Enum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def majority(voters: int) -> int:
    return voters // 2 + 1


def committed_index(voters: Iterable[int], match_of: Callable[[int], int]) -> int:
    """The largest index replicated on a majority of ``voters`` (§5.3, Figure 2 leader rule)."""
    matches = sorted((match_of(voter) for voter in voters), reverse=True)
    if not matches:
        return 0
    return matches[majority(len(matches)) - 1]


def vote_result(voters: Iterable[int], votes: Mapping[int, bool]) -> VoteResult:
    """Tally ``votes`` (node -> granted) among ``voters``."""
    voter_list = list(voters)
    need = majority(len(voter_list))
    granted = sum(1 for voter in voter_list if votes.get(voter) is True)
    rejected = sum(1 for voter in voter_list if votes.get(voter) is False)
    if granted >= need:
        return VoteResult.WON
    if len(voter_list) - rejected < need:
        return VoteResult.LOST
    return VoteResult.PENDING


def has_quorum(voters: Iterable[int], acked: Callable[[int], bool]) -> bool:
    voter_list = list(voters)
    return sum(1 for voter in voter_list if acked(voter)) >= majority(len(voter_list))
