"""Simulation and test support that the runtime image does not need.

``hive_sim`` holds what exercises the product without being part of it: a power-loss model of a
disk behind the storage layer's :class:`~hive_runtime.storage.OsFileOps` seam
(:mod:`hive_sim.powerloss`), a virtual-time asyncio loop (:mod:`hive_sim.virtual_loop`), a
deterministic stand-in for the WAL's worker threads (:mod:`hive_sim.deferred`), and the
durability simulation that runs clusters of the production :class:`~hive_runtime.node.driver.RaftDriver`
over them (:mod:`hive_sim.durability`). The runtime never imports this package
(``tests/architecture`` checks it).
"""
