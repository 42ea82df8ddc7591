"""uvloop: clients work against a server on asyncio's loop; the server refuses to start on uvloop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import uvloop

from hive_operator.pki import Role
from hive_runtime.transport import (
    AccessPolicy,
    Frame,
    FrameConnection,
    FrameServer,
    UnsupportedEventLoopError,
    connect,
)


async def _echo(connection: FrameConnection, frame: Frame) -> None:
    await connection.send(frame)


@pytest.fixture
def asyncio_server(pki: object, peer_policy: AccessPolicy) -> Iterator[int]:
    loop = asyncio.new_event_loop()
    context = pki.server_context(Role.PEER, "n1")  # type: ignore[attr-defined]
    server = FrameServer(
        port_name="peer", context=lambda: context, policy=peer_policy, handlers={"echo": _echo}
    )
    port = loop.run_until_complete(server.start("127.0.0.1", 0))[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield port
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_uvloop_client_talks_to_an_asyncio_server(
    pki: object, peer_policy: AccessPolicy, asyncio_server: int
) -> None:
    async def scenario() -> object:
        connection = await connect(
            "127.0.0.1",
            asyncio_server,
            context=pki.client_context(Role.PEER, "n2"),  # type: ignore[attr-defined]
            expect=peer_policy.for_member("n1"),
        )
        reply = await connection.request(Frame("echo", "over uvloop"))
        await connection.close()
        return reply

    assert uvloop.run(scenario()) == Frame("echo", "over uvloop")


def test_server_refuses_to_start_on_uvloop(pki: object, peer_policy: AccessPolicy) -> None:
    context = pki.server_context(Role.PEER, "n1")  # type: ignore[attr-defined]

    async def scenario() -> None:
        server = FrameServer(port_name="peer", context=lambda: context, policy=peer_policy, handlers={})
        with pytest.raises(UnsupportedEventLoopError, match="uvloop#707"):
            await server.start("127.0.0.1", 0)

    uvloop.run(scenario())
