"""Deterministic simulation of a Raft cluster (FoundationDB/TigerBeetle-style).

One seed fixes everything: network faults, crashes, membership changes, client operations and
every node's election timeouts, so a failing seed replays exactly.
"""

from hive_sim.raft_sim.config import SimConfig
from hive_sim.raft_sim.simulation import SeedResult, Simulation, run_seed

__all__ = ["SeedResult", "SimConfig", "Simulation", "run_seed"]
