"""The client library against a server that answers late or never: attempts expire, deadlines hold.

Request expiry is a watchdog per connection (not a timer per request), so these pin down that a
silent server still gets an unknown outcome for a write after about ``attempt_timeout`` and an
unavailable error for a read after about ``deadline``, and that prompt replies are unaffected.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgpack
import pytest
from prometheus_client import CollectorRegistry

from hive_operator.pki import Role
from hive_runtime.client import Client, ClientTls, OutcomeUnknownError, UnavailableError
from hive_runtime.transport import AccessPolicy, Frame, FrameConnection, FrameServer, TransportMetrics

from .conftest import CLUSTER, NAMESPACE
from .conftest import TestPki as Pki


async def _start(pki: Pki, *, silent: set[str]) -> tuple[FrameServer, int, list[str]]:
    seen: list[str] = []

    def handler(kind: str):  # type: ignore[no-untyped-def]
        async def handle(connection: FrameConnection, frame: Frame) -> None:
            seen.append(kind)
            if kind not in silent:
                result = msgpack.packb([True, frame.payload.get("value")]) if kind == "put" else "v"
                connection.send_nowait(Frame("ok", {"id": frame.payload["id"], "result": result}))

        return handle

    context = pki.server_context(Role.PEER, "n1")
    server = FrameServer(
        port_name="client",
        context=lambda: context,
        policy=AccessPolicy(NAMESPACE, CLUSTER, frozenset({Role.CLIENT})),
        handlers={kind: handler(kind) for kind in ("put", "get")},
        metrics=TransportMetrics(CollectorRegistry()),
    )
    _, port = await server.start("127.0.0.1", 0)
    return server, port, seen


def _client(pki: Pki, port: int, *, deadline: float, attempt_timeout: float) -> Client:
    paths = pki.paths(Role.CLIENT, "desk")
    tls = ClientTls(
        ca=Path(paths.ca), cert=Path(paths.cert), key=Path(paths.key), namespace=NAMESPACE, cluster=CLUSTER
    )
    return Client(
        endpoints=[("127.0.0.1", port)], tls=tls, deadline=deadline, attempt_timeout=attempt_timeout
    )


def test_prompt_replies_and_many_requests_in_flight(pki: Pki) -> None:
    async def scenario() -> None:
        server, port, _ = await _start(pki, silent=set())
        async with _client(pki, port, deadline=5, attempt_timeout=1) as client:
            values = await asyncio.gather(*(client.put(f"k{i}", i) for i in range(200)))
            assert values == list(range(200))
            assert await client.get("k") == "v"
        await server.close()

    asyncio.run(scenario())


def test_a_write_nobody_answers_is_an_unknown_outcome_after_the_attempt_timeout(pki: Pki) -> None:
    async def scenario() -> None:
        server, port, seen = await _start(pki, silent={"put"})
        async with _client(pki, port, deadline=5, attempt_timeout=0.2) as client:
            started = time.monotonic()
            with pytest.raises(OutcomeUnknownError):
                await client.put("k", 1)
            assert 0.15 <= time.monotonic() - started < 2.0
            assert seen == ["put"]  # a write is never re-sent after it may have arrived
            assert await client.get("k") == "v"  # the client reconnected for the next call
        await server.close()

    asyncio.run(scenario())


def test_a_read_nobody_answers_is_retried_until_the_deadline(pki: Pki) -> None:
    async def scenario() -> None:
        server, port, seen = await _start(pki, silent={"get"})
        async with _client(pki, port, deadline=0.7, attempt_timeout=0.2) as client:
            started = time.monotonic()
            with pytest.raises(UnavailableError):
                await client.get("k")
            assert 0.6 <= time.monotonic() - started < 3.0
            assert len(seen) >= 2  # reads are idempotent: re-sent on a fresh connection
        await server.close()

    asyncio.run(scenario())
