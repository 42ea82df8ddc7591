"""A linearizability checker for key-value register histories (Wing-Gong/Lowe, porcupine-style).

Histories are partitioned per key and each partition is searched for a linearization; the
search memoizes (linearized set, state) pairs and gives up with UNKNOWN at a deadline.
"""

from hive_sim.linearizability.checker import CheckOutcome, CheckResult, check_history
from hive_sim.linearizability.history import Operation, OpKind

__all__ = ["CheckOutcome", "CheckResult", "OpKind", "Operation", "check_history"]
