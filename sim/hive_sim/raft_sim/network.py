"""A seeded, lossy network: drops, delays, duplicates, reorders and (asymmetric) partitions."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class LinkFaults:
    """Fault intensities; the nemesis changes them during a run."""

    drop: float = 0.0
    duplicate: float = 0.0
    delay_min_us: int = 100
    delay_max_us: int = 2_000
    slow: float = 0.0  # probability of a long delay (reorders messages)
    slow_max_us: int = 300_000


class SimNetwork:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.faults = LinkFaults()
        self.blocked: set[tuple[int, int]] = set()  # (sender, receiver) pairs that cannot talk

    def can_deliver(self, sender: int, receiver: int) -> bool:
        return (sender, receiver) not in self.blocked

    def delivery_delays(self, sender: int, receiver: int) -> list[int]:
        """Delays (us) after which copies of a message arrive; empty when it is lost."""
        if (sender, receiver) in self.blocked:
            return []
        rng = self.rng
        faults = self.faults
        if faults.drop and rng.random() < faults.drop:
            return []
        copies = 2 if faults.duplicate and rng.random() < faults.duplicate else 1
        delays = []
        random = rng.random
        for _ in range(copies):
            if faults.slow and random() < faults.slow:
                low, high = faults.delay_max_us, faults.slow_max_us
            else:
                low, high = faults.delay_min_us, faults.delay_max_us
            delays.append(low + int(random() * (high - low)))
        return delays

    def partition(self, groups: list[set[int]]) -> None:
        """Block all traffic between different groups."""
        self.blocked = set()
        for group in groups:
            for other in groups:
                if other is not group:
                    self.blocked.update((a, b) for a in sorted(group) for b in sorted(other))

    def block_one_way(self, sender: int, receiver: int) -> None:
        self.blocked.add((sender, receiver))

    def heal(self) -> None:
        self.blocked = set()
