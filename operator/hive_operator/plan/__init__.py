"""The pure planner: observed state (children, referenced Secrets, runtime reports) to an ordered
list of small actions and the status to show. No API calls, no clock, no I/O."""

from hive_operator.plan.compare import APPLIED_HASH, differences
from hive_operator.plan.model import (
    Action,
    ChangeMembership,
    Create,
    Delete,
    Event,
    LeaderView,
    MemberReport,
    Observed,
    PatchStatus,
    Plan,
    SetRiskDefaults,
    Update,
)
from hive_operator.plan.planner import missing_secrets, plan
from hive_operator.plan.status import cpu_count, leader_of

__all__ = [
    "APPLIED_HASH",
    "Action",
    "ChangeMembership",
    "Create",
    "Delete",
    "Event",
    "LeaderView",
    "MemberReport",
    "Observed",
    "PatchStatus",
    "Plan",
    "SetRiskDefaults",
    "Update",
    "cpu_count",
    "differences",
    "leader_of",
    "missing_secrets",
    "plan",
]
