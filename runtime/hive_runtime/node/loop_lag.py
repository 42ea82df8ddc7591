"""Event-loop lag: how late a timer fires, the one number that says whether the loop stalls.

Everything on a node shares one event loop, so any stall (hashing, serialising, a slow callback)
delays heartbeats and can depose a leader. :class:`LoopLagMonitor` sleeps ``interval`` seconds
over and over and records by how much each wake-up was late in ``hive_event_loop_lag_seconds``
(a histogram with millisecond buckets) and the worst since the last scrape in
``hive_event_loop_lag_max_seconds``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Gauge, Histogram

LAG_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


class LoopLagMonitor:
    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        interval: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self.histogram = Histogram(
            "hive_event_loop_lag_seconds",
            "How late the event loop woke a timer (loop stalls delay heartbeats)",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.worst = Gauge(
            "hive_event_loop_lag_max_seconds",
            "Largest event-loop lag since the last scrape",
            registry=registry,
        )
        self._worst = 0.0

    def observe(self, lag: float) -> None:
        lag = max(0.0, lag)
        self.histogram.observe(lag)
        if lag > self._worst:
            self._worst = lag
            self.worst.set(lag)

    def scraped(self) -> None:
        """Start a new 'worst since the last scrape' period (call after rendering /metrics)."""
        self._worst = 0.0
        self.worst.set(0.0)

    async def run(self) -> None:
        while True:
            started = self._clock()
            await self._sleep(self.interval)
            self.observe(self._clock() - started - self.interval)
