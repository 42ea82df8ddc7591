"""``spec.replicas`` as Raft membership: learners added and promoted on scale-up, members removed
before their pods on scale-down, one change at a time, through the leader's admin API.

A pod beyond the bootstrap set starts with ``membership: join`` and waits, never electing itself,
until the leader adds it. The planner, reading the leader's view of the configuration:

- does nothing while a membership change is pending (Raft allows one at a time);
- adds a wanted node (ordinal below ``spec.replicas``) that answers ``/status`` but is not a
  member, as a learner;
- promotes a wanted learner once the leader knows it holds the log up to the commit index;
- removes a member whose ordinal is at or beyond ``spec.replicas``, highest first; if that member
  leads, it first asks the leader to hand over (to its most caught-up voter);
- keeps the pod (and claim) of a node the configuration still holds: a pod goes only once its node
  is out, so a quorum never loses a voter it counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hive_operator.plan.model import Action, ChangeMembership, Event, LeaderView, MemberReport
from hive_operator.specs import Names

PROMOTE_LAG = 0  # a learner is promoted once it holds every committed entry the leader knows of


@dataclass(frozen=True)
class MembershipPlan:
    actions: tuple[Action, ...]
    keep: frozenset[int]  # node ids beyond spec.replicas still in the configuration (keep their pods)
    message: str | None  # what is being changed, for the Progressing condition
    recheck: bool = False  # a step was taken or a learner is catching up: look again soon


def plan_membership(
    names: Names, replicas: int, view: LeaderView | None, reports: Mapping[str, MemberReport]
) -> MembershipPlan:
    if view is None:
        return MembershipPlan((), frozenset(), None)
    extra = frozenset(node for node in view.members if node > replicas)
    wanted = range(1, replicas + 1)
    if view.change_pending:
        return MembershipPlan((), extra, "waiting for a membership change to commit", recheck=True)
    answering = {report.node_id for report in reports.values()}
    leader_id = next((r.node_id for r in reports.values() if r.pod == view.leader), None)

    def step(kind: str, node: int, reason: str, message: str) -> MembershipPlan:
        call = ChangeMembership(kind, node, view.leader)
        return MembershipPlan((call, Event("Normal", reason, message)), extra, message, recheck=True)

    if extra:
        node = max(extra)
        pod = names.pod(node - 1)
        if node == leader_id:
            return step("transfer", node, "LeadershipTransfer", f"moving leadership off {pod} to remove it")
        return step("remove", node, "MemberRemoved", f"removing {pod} from the Raft configuration")
    for node in wanted:
        pod = names.pod(node - 1)
        if node not in view.members and node in answering:
            return step("add", node, "MemberAdded", f"adding {pod} as a learner (scale-up)")
        if node in view.learners and view.match_index.get(node, -1) >= view.commit_index - PROMOTE_LAG:
            return step("promote", node, "MemberPromoted", f"promoting {pod} to voter: it holds the log")
    catching_up = [names.pod(node - 1) for node in wanted if node in view.learners]
    starting = [names.pod(node - 1) for node in wanted if node not in view.members]
    parts = []
    if catching_up:
        parts.append(f"waiting for {', '.join(catching_up)} to catch up")
    if starting:
        parts.append(f"waiting for {', '.join(starting)} to start and answer")
    return MembershipPlan((), extra, "; ".join(parts) or None, recheck=bool(catching_up))
