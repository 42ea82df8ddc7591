"""Parameters of one simulated run; the seed picks fault intensities within these bounds."""

from __future__ import annotations

from dataclasses import dataclass, field

from hive_sim.planted import PlantedBug


@dataclass(frozen=True)
class SimConfig:
    nodes: int = 3
    steps: int = 600  # simulated ticks of the global clock
    tick_us: int = 100_000  # one Raft tick = 100 ms (etcd's default heartbeat interval)
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    clients: int = 4
    keys: int = 3
    client_timeout_us: int = 3_000_000
    max_extra_nodes: int = 3  # fresh node ids the nemesis may add as learners
    planted_bugs: frozenset[PlantedBug] = field(default_factory=frozenset)
    # Knobs the seed picks when left as None (swarm testing); tests may pin them.
    max_entries_per_message: int | None = None
    fault_point_crash: float | None = None  # crash chance at vote / election / commit fault points
    check_linearizability: bool = True
    check_invariants: bool = True  # the direct Raft safety checks of sim/invariants.py
    linearizability_time_limit_s: float = 10.0
    trace_length: int = 60

    @property
    def duration_us(self) -> int:
        return self.steps * self.tick_us
