"""The seeded nemesis: crashes, power cuts (one node or all), cuts inside a node's own I/O, partitions.

Every action is drawn from the seed, so a seed replays exactly. The mix:

- ``crash``: kill one node (its page cache survives), restart it after a while;
- ``power``: cut one node's power (unsynced writes lost, torn tails), restart it;
- ``blackout``: cut every node's power at once (what "acknowledged only after a majority
  fsynced" is about), restart them one by one;
- ``armed``: make the power go out at one of a node's next file operations, so it dies in the
  middle of a Ready (between appending and syncing, or after sending and before syncing);
- ``isolate``: cut one node off the network for a while (often the leader); ``heal`` ends it.

Victims are mostly the leader or the followers the leader depends on, since those are where a
durability bug loses acknowledged writes.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from hive_sim.durability.cluster import SimCluster, SimNode


class Nemesis:
    def __init__(self, cluster: SimCluster, *, seed: int) -> None:
        self.cluster = cluster
        self._rng = random.Random(f"{seed}/nemesis")
        self.actions: Counter[str] = Counter()
        rng = self._rng
        self._weights = {
            "crash": rng.uniform(0, 2),
            "power": rng.uniform(0, 3),
            "blackout": rng.uniform(0.2, 2),
            "armed": rng.uniform(0, 4),
            "isolate": rng.uniform(0, 2),
        }
        self._pause = (rng.uniform(0.02, 0.1), rng.uniform(0.15, 0.5))

    async def run(self, *, until: float) -> None:
        loop = self.cluster.loop
        while loop.time() < until:
            await asyncio.sleep(self._rng.uniform(*self._pause))
            action = self._rng.choices(list(self._weights), weights=list(self._weights.values()))[0]
            self.actions[action] += 1
            getattr(self, f"_{action}")()
        self.cluster.network.heal()
        for node in self.cluster.nodes.values():
            if not node.up:
                self.cluster.schedule_restart(node, self._rng.uniform(0, 0.05))

    def _victim(self) -> SimNode | None:
        up = self.cluster.up_nodes()
        if not up:
            return None
        leaders = [node for node in up if node.driver is not None and node.driver.is_leader]
        if leaders and self._rng.random() < 0.5:
            return self._rng.choice(leaders)
        return self._rng.choice(up)

    def _restart_later(self, node: SimNode) -> None:
        self.cluster.schedule_restart(node, self._rng.uniform(0.01, 0.4))

    def _crash(self) -> None:
        victim = self._victim()
        if victim is not None:
            victim.kill(power=False)
            self._restart_later(victim)

    def _power(self) -> None:
        victim = self._victim()
        if victim is not None:
            victim.kill(power=True)
            self._restart_later(victim)

    def _blackout(self) -> None:
        for node in self.cluster.nodes.values():
            node.kill(power=True)
            self._restart_later(node)

    def _armed(self) -> None:
        victim = self._victim()
        if victim is not None and not victim.disk.armed:
            victim.disk.arm(self._rng.randint(1, 12))

    def _isolate(self) -> None:
        victim = self._victim()
        if victim is None:
            return
        self.cluster.network.isolate(victim.id)
        self.cluster.loop.call_later(self._rng.uniform(0.05, 0.6), self.cluster.network.heal)
