"""The client port: order entry and register operations as msgpack frames over mutual TLS.

Requests carry an ``id`` the reply echoes, so one connection can have many requests in flight.
Replies are ``ok`` (with ``result``), ``redirect`` (with the leader's client address, or none
while there is no leader) or ``error`` (with ``code``: ``bad_request``, ``unknown_outcome``,
``unavailable``). Trading commands are stamped with the leader's clock (microseconds) before
they are proposed, so every replica applies the same timestamp.

Retries are safe for orders: a request marked ``retry`` whose client order id is already known
is answered with what that id was first used for instead of being entered twice. Register
operations (``put``, ``cas``, ``get``) exist only on a node with ``register_space`` on (tests and
benchmarks); elsewhere they are refused with ``forbidden`` for every certificate. Register
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
from hive_runtime.trading.commands import (
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    SetRiskDefaults,
)
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
        register_space: bool = False,
    ) -> None:
        self.driver = driver
        self.register_space = register_space
        self._leader_address = leader_address
        self.metrics = metrics
        self._clock_us = clock_us
        self._monotonic = monotonic
        self._tasks: set[asyncio.Task[None]] = set()
        self._counters: dict[tuple[str, str], Any] = {}
        self._last_ts = 0

    @property
    def handlers(self) -> dict[str, Callable[[FrameConnection, Frame], Any]]:
        handlers = {kind: self._spawn(kind) for kind in ("get", "order", "ping")}
        handlers |= {kind: self._write_handler(kind) for kind in ("trade", "put", "cas")}
        return handlers

    def _spawn(self, kind: str) -> Callable[[FrameConnection, Frame], Any]:
        async def handler(connection: FrameConnection, frame: Frame) -> None:
            self._start_task(kind, connection, frame.payload)

        return handler

    def _start_task(self, kind: str, connection: FrameConnection, payload: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(kind, connection, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _write_handler(self, kind: str) -> Callable[[FrameConnection, Frame], Any]:
        """Writes are proposed right here, and answered from the Ready loop's callback (no task
        per request); only an order retry, which needs a read barrier first, takes a task."""

        async def handler(connection: FrameConnection, frame: Frame) -> None:
            payload = frame.payload
            if kind == "trade" and isinstance(payload, dict) and payload.get("retry"):
                self._start_task(kind, connection, payload)
                return
            request_id = payload.get("id") if isinstance(payload, dict) else None
            started = self._monotonic()
            try:
                if not isinstance(request_id, int):
                    raise BadRequest("request has no integer id")
                entry = self._write_entry(kind, payload, connection.identity.role)
                self.driver.propose_with(
                    entry,
                    lambda outcome, error: self._reply(
                        kind, connection, request_id, started, result=_result(kind, outcome), error=error
                    ),
                )
            except Exception as error:
                self._reply(kind, connection, request_id, started, result=None, error=error)

        return handler

    def _request_counter(self, kind: str, outcome: str) -> Any:
        """The labelled child of ``hive_client_requests`` (cached: ``labels()`` costs a lock and a
        dict lookup per call, on every request)."""
        counter = self._counters.get((kind, outcome))
        if counter is None:
            counter = self._counters[(kind, outcome)] = self.metrics.client_requests.labels(kind, outcome)
        return counter

    def _check_register_space(self) -> None:
        if not self.register_space:
            raise Forbidden("the register space is disabled on this node (a test and benchmark aid)")

    def _write_entry(self, kind: str, payload: dict[str, Any], role: Role) -> bytes:
        if kind in ("put", "cas"):
            self._check_register_space()
        if kind == "put":
            return register_put(_key(payload), payload.get("value"))
        if kind == "cas":
            return register_cas(_key(payload), expected=payload.get("expected"), value=payload.get("value"))
        return self._trade_entry(payload, role)

    async def _answer(self, kind: str, connection: FrameConnection, payload: Any) -> None:
        request_id = payload.get("id") if isinstance(payload, dict) else None
        started = self._monotonic()
        try:
            if not isinstance(request_id, int):
                raise BadRequest("request has no integer id")
            result = await self._execute(kind, payload, connection.identity.role)
        except Exception as error:
            self._reply(kind, connection, request_id, started, result=None, error=error)
        else:
            self._reply(kind, connection, request_id, started, result=result, error=None)

    def _reply(
        self,
        kind: str,
        connection: FrameConnection,
        request_id: Any,
        started: float,
        *,
        result: Any,
        error: BaseException | None,
    ) -> None:
        """Queue the reply frame (it leaves with the connection's next flush)."""
        if error is None:
            reply = Frame("ok", {"id": request_id, "result": result})
            outcome = "ok"
            if kind != "get":
                self.metrics.commit_latency.observe(self._monotonic() - started)
        elif isinstance(error, NotLeader):
            address = self._leader_address(error.leader_id) if error.leader_id is not None else None
            reply = Frame("redirect", {"id": request_id, "leader": list(address) if address else None})
            outcome = "redirect"
        else:
            code = _error_code(error)
            if code is None:
                raise error
            reply = Frame("error", {"id": request_id, "code": code, "message": str(error)})
            outcome = code
        self._request_counter(kind, outcome).inc()
        try:
            connection.send_nowait(reply)
        except (ConnectionError, OSError):
            log.debug("client went away before its reply")

    async def _execute(self, kind: str, payload: dict[str, Any], role: Role) -> Any:
        if kind == "ping":
            return {"leader": self.driver.leader_id, "applied": self.driver.applied_index}
        if kind == "get":
            self._check_register_space()
            key = _key(payload)
            await self.driver.read_barrier()
            return self.driver.state.read_register(key)
        if kind == "order":
            account, cl_ord_id = payload.get("account"), payload.get("cl_ord_id")
            if not isinstance(account, str) or not isinstance(cl_ord_id, str):
                raise BadRequest("order lookup needs account and cl_ord_id strings")
            await self.driver.read_barrier()
            known = self.driver.state.trading.lookup_client_order(account, cl_ord_id)
            return None if known is None else _client_order(known)
        return await self._trade(payload, role)

    async def _trade(self, payload: dict[str, Any], role: Role) -> Any:
        """An order entry retry: answered from the first entry of its client order id, if any."""
        raw = payload.get("cmd")
        if isinstance(raw, bytes) and payload.get("retry"):
            command = decode_command(raw)
            if isinstance(command, NewOrderSingle):
                if not self.driver.is_leader:
                    raise NotLeader(self.driver.leader_id)
                await self.driver.read_barrier()
                known = self.driver.state.trading.lookup_client_order(command.account, command.cl_ord_id)
                if known is not None:
                    return {"replayed": True, **_client_order(known)}
        outcome = await self.driver.propose(self._trade_entry(payload, role))
        return _result("trade", outcome)

    def next_timestamp_us(self) -> int:
        """This leader's time for a new entry: its wall clock, never behind a time it gave before."""
        now = max(self._clock_us(), self._last_ts)
        self._last_ts = now
        return now

    def _trade_entry(self, payload: dict[str, Any], role: Role) -> bytes:
        """Validate a trading command, stamp it with the leader's clock, and encode its entry."""
        raw = payload.get("cmd")
        if not isinstance(raw, bytes):
            raise BadRequest("trade request needs cmd bytes")
        command = decode_command(raw)
        if not isinstance(command, ORDER_ENTRY) and role is not Role.OPERATOR:
            raise Forbidden(
                f"{type(command).__name__} changes limits or controls: operator certificate required"
            )
        if isinstance(command, SetRiskDefaults):  # gated by clusterVersion: the admin API checks it
            raise BadRequest("SetRiskDefaults goes through the admin API (PUT /risk/defaults)")
        if not self.driver.is_leader:
            raise NotLeader(self.driver.leader_id)
        command.ts_us = self.next_timestamp_us()
        return trading_entry(encode_command(command))


def _result(kind: str, outcome: bytes | None) -> Any:
    return {"replayed": False, "outcome": outcome} if kind == "trade" else outcome


def _error_code(error: BaseException) -> str | None:
    """The ``code`` of an error reply, or None for an error that is a bug (re-raised)."""
    if isinstance(error, OutcomeUnknown):
        return "unknown_outcome"
    if isinstance(error, Forbidden):
        return "forbidden"
    if isinstance(error, (BadRequest, CommandDecodeError)):
        return "bad_request"
    return None


def _key(payload: dict[str, Any]) -> str:
    key = payload.get("key")
    if not isinstance(key, str) or not key or len(key) > 256:
        raise BadRequest("key must be a non-empty string of at most 256 characters")
    return key
