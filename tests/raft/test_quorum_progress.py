"""Quorum arithmetic and the leader's per-follower progress tracker (§5.3, thesis §3.5)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hive_runtime.raft.progress import Progress, ProgressState
from hive_runtime.raft.quorum import VoteResult, committed_index, vote_result


@given(st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=7))
def test_committed_index_is_the_largest_index_a_majority_holds(matches: list[int]) -> None:
    # §5.3: an index is replicated on a majority when more than half of the voters match it.
    voters = list(range(1, len(matches) + 1))
    index = committed_index(voters, lambda voter: matches[voter - 1])
    majority = len(matches) // 2 + 1
    assert sum(1 for match in matches if match >= index) >= majority
    assert sum(1 for match in matches if match >= index + 1) < majority


def test_vote_tally_wins_loses_or_waits() -> None:
    # §5.2: a candidate wins with votes from a majority of the full voter set.
    voters = [1, 2, 3, 4, 5]
    assert vote_result(voters, {1: True, 2: True}) is VoteResult.PENDING
    assert vote_result(voters, {1: True, 2: True, 3: True}) is VoteResult.WON
    assert vote_result(voters, {1: True, 2: False, 3: False, 4: False}) is VoteResult.LOST


def test_probe_sends_one_append_then_waits() -> None:
    progress = Progress(next_index=10, is_learner=False)
    assert progress.state is ProgressState.PROBE and not progress.is_paused()
    progress.paused = True
    assert progress.is_paused()
    assert progress.maybe_update(9)
    progress.become_replicate()
    assert (progress.next, progress.is_paused()) == (10, False)


def test_rejection_uses_the_hint_but_ignores_stale_rejections() -> None:
    # Fast backtracking: jump to the follower's hint, never below the known match.
    progress = Progress(next_index=50, is_learner=False)
    progress.match = 5
    assert not progress.maybe_decrease_to(30, 10)  # not the index we probed last: stale
    assert progress.maybe_decrease_to(49, 20)
    assert progress.next == 21
    progress.become_replicate()
    assert not progress.maybe_decrease_to(3, 0)  # below match: stale
