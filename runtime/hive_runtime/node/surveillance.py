"""The leader's market surveillance: watch the applied order flow, propose alerts and halts.

The detectors (:mod:`hive_runtime.surveillance`) use numpy floats and sliding windows, so they
must not run inside the deterministic state machine. Here they run on the leader only, as the
design requires of anything statistical: the trading machine hands each applied command and its
outcome to :meth:`LeaderSurveillance.observe` (ignored on followers), and every
``surveillance.evaluate_every_ms`` the leader evaluates the windows and proposes what the
detectors return (``SurveillanceAlert``, ``SetSymbolHalt``) through the log like any other
command, stamped with the leader's clock. The effect is replicated and audited; a new leader
starts with empty windows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from hive_runtime.config import SurveillanceSettings
from hive_runtime.node.driver import NotLeader, OutcomeUnknown, RaftDriver
from hive_runtime.node.state import trading_entry
from hive_runtime.surveillance import SurveillanceConfig, SurveillanceMonitor
from hive_runtime.trading.codec import encode_command
from hive_runtime.trading.commands import Command, Outcome

log = logging.getLogger(__name__)


def monitor_config(settings: SurveillanceSettings) -> SurveillanceConfig:
    return SurveillanceConfig(
        window_us=round(settings.window_seconds * 1_000_000),
        min_messages=settings.min_messages,
        order_to_trade_max=settings.order_to_trade_max,
        layering_levels=settings.layering_levels,
        min_returns=settings.min_returns,
        zscore_alert=settings.zscore_alert,
        zscore_halt=settings.zscore_halt,
        cooldown_us=round(settings.cooldown_seconds * 1_000_000),
    )


class LeaderSurveillance:
    def __init__(
        self,
        *,
        settings: SurveillanceSettings,
        driver: RaftDriver,
        timestamp_us: Callable[[], int],
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._driver = driver
        self._timestamp_us = timestamp_us
        self._sleep = sleep
        self.monitor = SurveillanceMonitor(monitor_config(settings))
        self._term = -1  # the leader term the monitor's windows belong to
        self.proposed = 0

    def observe(self, command: Command, outcome: Outcome) -> None:
        """Called by the trading machine after each applied command (on every replica)."""
        driver = self._driver
        if not driver.is_leader:
            return
        try:
            if driver.node.term != self._term:  # leader again, in a new term: fresh windows
                self._term = driver.node.term
                self.monitor = SurveillanceMonitor(self.monitor.config)
            self.monitor.observe(command, outcome)
        except Exception:  # never let surveillance disturb the apply path
            log.exception("surveillance could not observe a command")

    async def run(self) -> None:
        interval = self.settings.evaluate_every_ms / 1000
        while True:
            await self._sleep(interval)
            await self.evaluate_once()

    async def evaluate_once(self) -> int:
        """On the leader: evaluate the windows and propose, one after the other, what the
        detectors found; returns how many commands were applied."""
        if not self._driver.is_leader or self._driver.node.term != self._term:
            return 0
        commands = self.monitor.evaluate(self._timestamp_us())
        applied = 0
        for command in commands:
            command.ts_us = self._timestamp_us()
            try:
                await self._driver.propose(trading_entry(encode_command(command)))
            except (NotLeader, OutcomeUnknown) as error:
                log.warning("surveillance: %s not proposed: %s", type(command).__name__, error)
                break
            applied += 1
            log.info("surveillance proposed %s", command)
        self.proposed += applied
        return applied
