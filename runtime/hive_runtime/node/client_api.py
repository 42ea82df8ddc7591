"""The client port: order entry and register operations as msgpack frames over mutual TLS.

Requests carry an ``id`` the reply echoes, so one connection can have many requests in flight.
Replies are ``ok`` (with ``result``), ``redirect`` (with the leader's client address, or none
while there is no leader) or ``error`` (with ``code``: ``bad_request``, ``unknown_outcome``,
``unavailable``). Trading commands are stamped with the leader's clock (microseconds) before
they are proposed, so every replica applies the same timestamp.

Retries are safe for orders: a request marked ``retry`` whose client order id is already known
is answered with what that id was first used for instead of being entered twice. Register
writes are not retried by the node; their callers decide (a history checker records them as
indeterminate).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from hive_runtime.identity import Role
from hive_runtime.node.driver import NotLeader, OutcomeUnknown, RaftDriver
from hive_runtime.node.metrics import NodeMetrics
from hive_runtime.node.state import register_cas, register_put, trading_entry
from hive_runtime.trading import CommandDecodeError, decode_command, encode_command
from hive_runtime.trading.commands import NewOrderSingle, OrderCancelReplaceRequest, OrderCancelRequest
from hive_runtime.trading.engine import ClientOrder
from hive_runtime.transport import Frame, FrameConnection

log = logging.getLogger(__name__)


def wall_clock_us() -> int:
    return time.time_ns() // 1000


ORDER_ENTRY = (NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest)


class BadRequest(ValueError):
    pass


class Forbidden(PermissionError):
    pass


def _client_order(known: ClientOrder) -> dict[str, int]:
    return {"index": known.log_index, "order_id": known.order_id, "reject_reason": known.reject_reason}


class ClientService:
    """Frame handlers of the client port, bound to one node's driver."""

    def __init__(
        self,
        *,
        driver: RaftDriver,
        leader_address: Callable[[int], tuple[str, int] | None],
        metrics: NodeMetrics,
        clock_us: Callable[[], int] = wall_clock_us,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.driver = driver
        self._leader_address = leader_address
        self.metrics = metrics
        self._clock_us = clock_us
        self._monotonic = monotonic
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_ts = 0

    @property
    def handlers(self) -> dict[str, Callable[[FrameConnection, Frame], Any]]:
        return {kind: self._spawn(kind) for kind in ("trade", "put", "cas", "get", "order", "ping")}

    def _spawn(self, kind: str) -> Callable[[FrameConnection, Frame], Any]:
        async def handler(connection: FrameConnection, frame: Frame) -> None:
            task = asyncio.get_running_loop().create_task(self._answer(kind, connection, frame.payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return handler

    async def _answer(self, kind: str, connection: FrameConnection, payload: Any) -> None:
        request_id = payload.get("id") if isinstance(payload, dict) else None
        started = self._monotonic()
        try:
            if not isinstance(request_id, int):
                raise BadRequest("request has no integer id")
            result = await self._execute(kind, payload, connection.identity.role)
            reply = Frame("ok", {"id": request_id, "result": result})
            self.metrics.client_requests.labels(kind, "ok").inc()
            if kind != "get":
                self.metrics.commit_latency.observe(self._monotonic() - started)
        except NotLeader as refused:
            address = self._leader_address(refused.leader_id) if refused.leader_id is not None else None
            reply = Frame("redirect", {"id": request_id, "leader": list(address) if address else None})
            self.metrics.client_requests.labels(kind, "redirect").inc()
        except OutcomeUnknown as unknown:
            reply = Frame("error", {"id": request_id, "code": "unknown_outcome", "message": str(unknown)})
            self.metrics.client_requests.labels(kind, "unknown_outcome").inc()
        except Forbidden as forbidden:
            reply = Frame("error", {"id": request_id, "code": "forbidden", "message": str(forbidden)})
            self.metrics.client_requests.labels(kind, "forbidden").inc()
        except (BadRequest, CommandDecodeError) as bad:
            reply = Frame("error", {"id": request_id, "code": "bad_request", "message": str(bad)})
            self.metrics.client_requests.labels(kind, "bad_request").inc()
        try:
            await connection.send(reply)
        except (ConnectionError, OSError):
            log.debug("client went away before its reply")

    async def _execute(self, kind: str, payload: dict[str, Any], role: Role) -> Any:
        if kind == "ping":
            return {"leader": self.driver.leader_id, "applied": self.driver.applied_index}
        if kind == "get":
            key = _key(payload)
            await self.driver.read_barrier()
            return self.driver.state.read_register(key)
        if kind == "put":
            return await self.driver.propose(register_put(_key(payload), payload.get("value")))
        if kind == "cas":
            entry = register_cas(_key(payload), expected=payload.get("expected"), value=payload.get("value"))
            return await self.driver.propose(entry)
        if kind == "order":
            account, cl_ord_id = payload.get("account"), payload.get("cl_ord_id")
            if not isinstance(account, str) or not isinstance(cl_ord_id, str):
                raise BadRequest("order lookup needs account and cl_ord_id strings")
            await self.driver.read_barrier()
            known = self.driver.state.trading.lookup_client_order(account, cl_ord_id)
            return None if known is None else _client_order(known)
        return await self._trade(payload, role)

    async def _trade(self, payload: dict[str, Any], role: Role) -> Any:
        raw = payload.get("cmd")
        if not isinstance(raw, bytes):
            raise BadRequest("trade request needs cmd bytes")
        command = decode_command(raw)
        if not isinstance(command, ORDER_ENTRY) and role is not Role.OPERATOR:
            raise Forbidden(
                f"{type(command).__name__} changes limits or controls: operator certificate required"
            )
        if not self.driver.is_leader:
            raise NotLeader(self.driver.leader_id)
        if payload.get("retry") and isinstance(command, NewOrderSingle):
            await self.driver.read_barrier()
            known = self.driver.state.trading.lookup_client_order(command.account, command.cl_ord_id)
            if known is not None:
                return {"replayed": True, **_client_order(known)}
        now = max(self._clock_us(), self._last_ts)
        self._last_ts = now
        command.ts_us = now
        outcome = await self.driver.propose(trading_entry(encode_command(command)))
        return {"replayed": False, "outcome": outcome}


def _key(payload: dict[str, Any]) -> str:
    key = payload.get("key")
    if not isinstance(key, str) or not key or len(key) > 256:
        raise BadRequest("key must be a non-empty string of at most 256 characters")
    return key
