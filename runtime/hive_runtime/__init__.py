"""The Hive runtime: the process in each pod, a Raft group whose state machine is a trading engine."""

__version__ = "0.1.0"
