"""Durability simulation: clusters of the production driver, WAL and state machine on power-loss
disks, under a seeded nemesis, with client histories checked for linearizability.

See ``docs/raft.md`` (section "Durability simulation") and :mod:`hive_sim.durability.run`.
"""

from hive_sim.durability.run import DurabilityConfig, SeedResult, profile_for, run_seed, run_seeds

__all__ = ["DurabilityConfig", "SeedResult", "profile_for", "run_seed", "run_seeds"]
