"""The Python client of a Hive cluster: ``Client(endpoints=[...], tls=...)``.

One mutual-TLS connection to one node at a time, many requests in flight on it. A ``redirect``
reply moves the client to the leader; a lost connection moves it to the next endpoint.

Orders are retried until answered: a retry is marked so the leader answers it with what the
client order id was first used for, never entering it twice. Register writes are not retried
after they may have reached the leader: the caller gets :class:`OutcomeUnknownError` and decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import msgpack

from hive_runtime.identity import Role
from hive_runtime.trading import Command, Outcome, decode_outcome, encode_command
from hive_runtime.transport import (
    AccessDenied,
    AccessPolicy,
    ConnectionClosed,
    Frame,
    FrameConnection,
    FrameError,
    connect,
)


class ClientError(Exception):
    """The cluster refused the request."""


class OutcomeUnknownError(ClientError):
    """The write may or may not have been applied (leader change or lost connection)."""


class UnavailableError(ClientError):
    """No endpoint answered within the deadline."""


@dataclass(frozen=True)
class ClientTls:
    """Client certificate material (files) and the cluster whose servers it trusts."""

    ca: Path
    cert: Path
    key: Path
    namespace: str
    cluster: str

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(self.ca))
        context.load_cert_chain(certfile=str(self.cert), keyfile=str(self.key))
        return context


@dataclass(frozen=True)
class TradeResult:
    """The answer to a trading command; ``replayed`` when a retry found the original entry."""

    replayed: bool
    outcome: Outcome | None
    original: dict[str, Any] | None


class _Redirect(Exception):
    def __init__(self, leader: tuple[str, int] | None) -> None:
        self.leader = leader


class _AttemptExpired(Exception):
    """No reply before the attempt's expiry (the link's watchdog says so)."""


class _Link:
    """One connection with the requests in flight on it, matched to replies by request id.

    Request expiry is checked by one watchdog timer per link, not a timer per request: arming
    and cancelling a timer (``asyncio.timeout``) was the largest cost of a request in the
    client's profile. An expired request is failed within ``check_interval`` of its expiry.
    """

    def __init__(self, connection: FrameConnection, *, check_interval: float) -> None:
        self.connection = connection
        self.closed = False
        self._retired = False
        self._waiting: dict[int, tuple[asyncio.Future[Frame], float]] = {}
        self._loop = asyncio.get_running_loop()
        self._check_interval = check_interval
        self._watchdog = self._loop.call_later(check_interval, self._expire)
        self._reader = self._loop.create_task(self._read())

    def expect(self, request_id: int, *, expires_at: float) -> asyncio.Future[Frame]:
        future: asyncio.Future[Frame] = self._loop.create_future()
        self._waiting[request_id] = (future, expires_at)
        return future

    def forget(self, request_id: int) -> None:
        self._waiting.pop(request_id, None)

    def retire(self) -> None:
        self._retired = True
        if not self._waiting:
            self._reader.cancel()

    def _expire(self) -> None:
        now = self._loop.time()
        expired = [request_id for request_id, (_, expires_at) in self._waiting.items() if expires_at <= now]
        for request_id in expired:
            future, _ = self._waiting.pop(request_id)
            if not future.done():
                future.set_exception(_AttemptExpired())
        if not self.closed:
            self._watchdog = self._loop.call_later(self._check_interval, self._expire)

    async def _read(self) -> None:
        try:
            while True:
                frame = await self.connection.receive()
                request_id = frame.payload.get("id") if isinstance(frame.payload, dict) else None
                waiting = self._waiting.pop(request_id, None) if isinstance(request_id, int) else None
                if waiting is not None and not waiting[0].done():
                    waiting[0].set_result(frame)
                if self._retired and not self._waiting:
                    return
        except (ConnectionClosed, FrameError, OSError):
            pass
        finally:
            self.closed = True
            self._watchdog.cancel()
            for future, _ in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionClosed("connection lost"))
            self._waiting.clear()
            await self.connection.close()

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class Client:
    """Async client; use ``async with Client(...) as client``.

    Every call ends within ``deadline`` seconds (``TimeoutError`` inside, mapped by each API
    method); one attempt on one connection waits at most ``attempt_timeout`` for its reply.
    """

    def __init__(
        self,
        *,
        endpoints: Sequence[tuple[str, int]],
        tls: ClientTls,
        deadline: float = 10.0,
        attempt_timeout: float = 2.0,
        max_backoff: float = 0.1,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is needed")
        self.endpoints: list[tuple[str, int]] = [(str(host), int(port)) for host, port in endpoints]
        self.tls = tls
        self.deadline = deadline
        self.attempt_timeout = attempt_timeout
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._context = tls.context()
        self._policy = AccessPolicy(tls.namespace, tls.cluster, frozenset({Role.PEER}))
        self._ids = count(1)
        self._target = 0
        self._preferred: tuple[str, int] | None = None
        self._link: _Link | None = None
        self._connect_lock = asyncio.Lock()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._drop()

    # -- connection management ---------------------------------------------------------------------
    async def _drop(self) -> None:
        """Close the current connection; requests in flight on it fail with ConnectionClosed."""
        link, self._link = self._link, None
        if link is not None:
            await link.close()

    def _retire(self) -> None:
        """Stop sending on the current connection but let the replies in flight on it arrive."""
        link, self._link = self._link, None
        if link is not None:
            link.retire()

    async def _ensure(self) -> _Link:
        link = self._link
        if link is not None and not link.closed:
            return link
        async with self._connect_lock:
            if self._link is not None and not self._link.closed:
                return self._link
            if self._preferred is not None:
                host, port = self._preferred
                self._preferred = None
            else:
                host, port = self.endpoints[self._target % len(self.endpoints)]
                self._target += 1
            connection = await connect(
                host, port, context=self._context, expect=self._policy, connect_timeout=2.0
            )
            self._link = _Link(connection, check_interval=min(0.05, self.attempt_timeout / 4))
            return self._link

    async def _call(self, link: _Link, kind: str, payload: dict[str, Any], *, deadline_at: float) -> Any:
        """One attempt on ``link``: the reply's result, or an exception (``TimeoutError`` once
        ``deadline_at`` has passed). ``payload`` is the caller's own dict: its ``id`` is set here."""
        loop = asyncio.get_running_loop()
        request_id = next(self._ids)
        future = link.expect(request_id, expires_at=min(loop.time() + self.attempt_timeout, deadline_at))
        payload["id"] = request_id
        await link.connection.send(Frame(kind, payload))
        try:
            reply = await future
        except _AttemptExpired:
            if loop.time() >= deadline_at:
                raise TimeoutError from None
            if self._link is link:
                await self._drop()
            raise ConnectionClosed(f"no reply within {self.attempt_timeout}s") from None
        body = reply.payload
        if reply.kind == "ok":
            return body.get("result")
        if reply.kind == "redirect":
            leader = body.get("leader")
            if self._link is link:
                self._retire()
            raise _Redirect((str(leader[0]), int(leader[1])) if leader else None)
        if body.get("code") == "unknown_outcome":
            raise OutcomeUnknownError(body.get("message", "outcome unknown"))
        raise ClientError(f"{body.get('code')}: {body.get('message')}")

    async def _pause(self, delay: float, deadline_at: float) -> None:
        """Back off for ``delay`` seconds, or raise ``TimeoutError`` if the deadline comes first."""
        remaining = deadline_at - asyncio.get_running_loop().time()
        if remaining <= delay:
            if remaining > 0:
                await self._sleep(remaining)
            raise TimeoutError
        await self._sleep(delay)

    async def _connect(self, deadline_at: float) -> _Link:
        """The current link, connecting first if needed (a slow path: bounded by the deadline)."""
        link = self._link
        if link is not None and not link.closed:
            return link
        async with asyncio.timeout_at(deadline_at):
            return await self._ensure()

    async def _with_failover(self, kind: str, payload: dict[str, Any], *, idempotent: bool) -> Any:
        """Follow redirects and fail over; re-send after an ambiguous failure only if idempotent.
        ``payload`` is the caller's own dict (attempts set its ``id`` and ``retry``)."""
        deadline_at = asyncio.get_running_loop().time() + self.deadline
        delay = 0.01
        while True:
            try:
                link = await self._connect(deadline_at)
            except (ConnectionClosed, OSError, ssl.SSLError, TimeoutError, AccessDenied):
                await self._drop()
                await self._pause(delay, deadline_at)
                delay = min(delay * 2, self.max_backoff)
                continue
            try:
                return await self._call(link, kind, payload, deadline_at=deadline_at)
            except _Redirect as redirect:
                if redirect.leader is not None:
                    self._preferred = redirect.leader
                else:
                    await self._pause(delay, deadline_at)
            except OutcomeUnknownError:
                if not idempotent:
                    raise
                payload["retry"] = True
                await self._pause(delay, deadline_at)
            except (ConnectionClosed, OSError, ssl.SSLError) as error:
                await self._drop()
                if not idempotent:
                    raise OutcomeUnknownError(
                        f"connection lost with the request in flight: {error}"
                    ) from None
                payload["retry"] = True
                await self._pause(delay, deadline_at)
            delay = min(delay * 2, self.max_backoff)

    # -- API ----------------------------------------------------------------------------------------
    async def submit(self, command: Command) -> TradeResult:
        """Enter a trading command (NewOrderSingle, cancel, replace, admin commands)."""
        try:
            result = await self._with_failover("trade", {"cmd": encode_command(command)}, idempotent=True)
        except TimeoutError:
            raise UnavailableError("no leader answered before the deadline") from None
        if result.get("replayed"):
            return TradeResult(replayed=True, outcome=None, original=result)
        return TradeResult(replayed=False, outcome=decode_outcome(result["outcome"]), original=None)

    async def put(self, key: str, value: Any) -> Any:
        return await self._register("put", {"key": key, "value": value})

    async def cas(self, key: str, *, expected: Any, value: Any) -> tuple[bool, Any]:
        ok, current = await self._register("cas", {"key": key, "expected": expected, "value": value})
        return bool(ok), current

    async def get(self, key: str) -> Any:
        """Linearizable read (ReadIndex on the leader)."""
        try:
            return await self._with_failover("get", {"key": key}, idempotent=True)
        except TimeoutError:
            raise UnavailableError("no leader answered before the deadline") from None

    async def lookup_order(self, account: str, cl_ord_id: str) -> dict[str, int] | None:
        """What ``cl_ord_id`` of ``account`` was entered as (linearizable), or None if never."""
        try:
            result: dict[str, int] | None = await self._with_failover(
                "order", {"account": account, "cl_ord_id": cl_ord_id}, idempotent=True
            )
        except TimeoutError:
            raise UnavailableError("no leader answered before the deadline") from None
        return result

    async def ping(self) -> dict[str, Any]:
        link = await self._ensure()
        deadline_at = asyncio.get_running_loop().time() + self.attempt_timeout
        result: dict[str, Any] = await self._call(link, "ping", {}, deadline_at=deadline_at)
        return result

    async def _register(self, kind: str, payload: dict[str, Any]) -> Any:
        try:
            raw = await self._with_failover(kind, payload, idempotent=False)
        except TimeoutError:
            # An attempt may have reached the leader before the deadline cut it off.
            raise OutcomeUnknownError(
                "no answer before the deadline; the write may have been applied"
            ) from None
        ok, value = msgpack.unpackb(raw, raw=False)
        if kind == "put":
            if not ok:
                raise ClientError(str(value))
            return value
        return ok, value
