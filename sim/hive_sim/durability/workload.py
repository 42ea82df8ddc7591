"""Register clients of the durability simulation, and the history they leave for the checker.

Each client runs one operation at a time (put, compare-and-set, linearizable get) on a few keys
against the node it believes leads, through the driver's own entry points: ``propose_with`` for
writes (the outcome comes from the state machine once the entry is applied) and
``read_barrier`` (ReadIndex) for reads. A write whose outcome the client never learns (timeout,
leadership lost, the node died) stays in the history with no return: it may or may not have
taken effect. A write the driver refused before appending it (``NotLeader``) is left out, as
are reads that never returned. Answers from a process that has since died are ignored: a real
client could not have received them.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from hive_runtime.node.driver import NotLeader, OutcomeUnknown
from hive_runtime.node.state import decode_register_result, register_cas, register_put
from hive_sim.durability.cluster import SimCluster, SimNode
from hive_sim.linearizability import Operation, OpKind

KEYS = ("a", "b", "c")
OPERATION_TIMEOUT = 0.5  # seconds


class Client:
    def __init__(self, client_id: int, cluster: SimCluster, history: list[Operation], *, seed: int) -> None:
        self.id = client_id
        self.cluster = cluster
        self.history = history
        self._rng = random.Random(f"{seed}/client/{client_id}")
        self._target = self._rng.choice(list(cluster.nodes))
        self._written = 0
        self.completed = 0

    def _now(self) -> int:
        return int(self.cluster.loop.time() * 1_000_000)

    async def run(self, *, until: float) -> None:
        loop = self.cluster.loop
        while loop.time() < until:
            node = self.cluster.nodes[self._target]
            if not node.up or node.driver is None:
                self._retarget(None)
                await asyncio.sleep(0.005)
                continue
            key = self._rng.choice(KEYS)
            roll = self._rng.random()
            try:
                if roll < 0.4:
                    await self._get(node, key)
                elif roll < 0.75:
                    await self._put(node, key)
                else:
                    await self._cas(node, key)
            except NotLeader as refused:
                self._retarget(refused.leader_id)
                await asyncio.sleep(0.002)
            await asyncio.sleep(self._rng.uniform(0, 0.01))

    def _retarget(self, hint: int | None) -> None:
        self._target = hint if hint in self.cluster.nodes else self._rng.choice(list(self.cluster.nodes))

    def _value(self) -> int:
        self._written += 1
        return self.id * 1_000_000 + self._written

    async def _write(self, node: SimNode, data: bytes) -> bytes | None:
        """The outcome, or None when the client cannot know whether the write took effect."""
        assert node.driver is not None
        loop = self.cluster.loop
        incarnation = node.incarnation
        future: asyncio.Future[bytes] = loop.create_future()

        def resolve(outcome: bytes | None, error: BaseException | None) -> None:
            if node.incarnation != incarnation or future.done():
                return  # a dead process answers nobody
            if error is not None:
                future.set_exception(error)
            else:
                assert outcome is not None
                future.set_result(outcome)

        node.driver.propose_with(data, resolve)  # NotLeader here: never appended
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                return await future
        except (TimeoutError, OutcomeUnknown):
            self._retarget(None)
            return None

    async def _put(self, node: SimNode, key: str) -> None:
        value = self._value()
        invoked = self._now()
        outcome = await self._write(node, register_put(key, value))
        returned = None if outcome is None else self._now()
        self._record(key, OpKind.PUT, invoked, returned, value=value)

    async def _cas(self, node: SimNode, key: str) -> None:
        expected = self._last_seen(key)
        value = self._value()
        invoked = self._now()
        outcome = await self._write(node, register_cas(key, expected=expected, value=value))
        if outcome is None:
            self._record(key, OpKind.CAS, invoked, None, value=value, expected=expected)
            return
        ok, _ = decode_register_result(outcome)
        self._record(key, OpKind.CAS, invoked, self._now(), value=value, expected=expected, output=ok)

    def _last_seen(self, key: str) -> int | None:
        for operation in reversed(self.history):
            if operation.key == key and operation.returned is not None:
                if operation.kind is OpKind.GET:
                    return operation.output if isinstance(operation.output, int) else None
                return operation.value
        return None

    async def _get(self, node: SimNode, key: str) -> None:
        assert node.driver is not None
        incarnation = node.incarnation
        invoked = self._now()
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                await node.driver.read_barrier()
        except TimeoutError:
            self._retarget(None)
            return
        if node.incarnation != incarnation or node.state is None:
            return
        value: Any = node.state.read_register(key)
        self._record(key, OpKind.GET, invoked, self._now(), output=value)

    def _record(
        self,
        key: str,
        kind: OpKind,
        invoked: int,
        returned: int | None,
        *,
        value: int | None = None,
        expected: int | None = None,
        output: int | bool | None = None,
    ) -> None:
        if returned is not None:
            self.completed += 1
        self.history.append(
            Operation(
                client=self.id,
                key=key,
                kind=kind,
                invoked=invoked,
                returned=returned,
                value=value,
                expected=expected,
                output=output,
            )
        )
