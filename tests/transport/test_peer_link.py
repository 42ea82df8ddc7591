"""Peer links: bounded exponential backoff, and reconnection after the peer's server restarts."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from hive_operator.pki import Role
from hive_runtime.transport import (
    AccessPolicy,
    Backoff,
    Frame,
    FrameConnection,
    FrameServer,
    PeerLink,
    TransportMetrics,
)


def test_backoff_grows_to_its_bound_and_resets() -> None:
    backoff = Backoff(initial=0.1, maximum=1.0, multiplier=2.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert backoff.next_delay() == 0.1


def test_backoff_jitter_stays_within_bounds() -> None:
    backoff = Backoff(initial=0.1, maximum=1.0, jitter=0.5, rng=random.Random(7))
    for _ in range(50):
        assert 0.05 <= backoff.next_delay() <= 1.0


async def _wait_for(condition: Callable[[], bool], limit: float = 10.0) -> None:
    async with asyncio.timeout(limit):
        while not condition():
            await asyncio.sleep(0.01)


def test_link_reconnects_after_server_restart(pki: object, peer_policy: AccessPolicy, metric: object) -> None:
    received: list[object] = []
    acks: list[object] = []
    delays: list[float] = []

    async def note(connection: FrameConnection, frame: Frame) -> None:
        received.append(frame.payload)
        await connection.send(Frame("ack", frame.payload))

    async def recording_sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0.005)  # the injected sleep keeps the test fast; delays are checked below

    async def on_frame(frame: Frame) -> None:
        acks.append(frame.payload)

    server_context = pki.server_context(Role.PEER, "n1")  # type: ignore[attr-defined]
    registry = CollectorRegistry()

    def make_server() -> FrameServer:
        return FrameServer(
            port_name="peer", context=lambda: server_context, policy=peer_policy, handlers={"note": note}
        )

    async def scenario() -> None:
        server = make_server()
        _, port = await server.start("127.0.0.1", 0)
        link = PeerLink(
            peer_name="n1",
            address=lambda: ("127.0.0.1", port),
            context=lambda: pki.client_context(Role.PEER, "n2"),  # type: ignore[attr-defined]
            expect=peer_policy,
            on_frame=on_frame,
            backoff=Backoff(initial=0.01, maximum=0.08, jitter=0.0),
            sleep=recording_sleep,
            metrics=TransportMetrics(registry),
        )
        async with asyncio.TaskGroup() as group:
            runner = group.create_task(link.run())
            for value in range(5):
                link.send(Frame("note", value))
            await _wait_for(lambda: acks == [0, 1, 2, 3, 4])
            await server.close()
            await _wait_for(lambda: len(delays) >= 6)  # refused reconnects back off
            assert delays[:6] == [0.01, 0.02, 0.04, 0.08, 0.08, 0.08]
            server = make_server()
            await server.start("127.0.0.1", port)
            await _wait_for(link.connected.is_set)
            link.send(Frame("note", "after restart"))
            await _wait_for(lambda: "after restart" in acks)
            assert link.connections_made == 2
            assert link.backoff.next_delay() == 0.01  # reset by the successful connection
            runner.cancel()
        await server.close()

    asyncio.run(scenario())
    assert received[:5] == [0, 1, 2, 3, 4] and received[-1] == "after restart"
    assert registry.get_sample_value("hive_peer_reconnects_total", {"peer": "n1"}) >= 6  # type: ignore[operator]


def test_link_refuses_an_impostor_and_keeps_retrying(pki: object, peer_policy: AccessPolicy) -> None:
    """A server presenting n3's certificate where n1 is expected is never sent a frame."""
    received: list[object] = []

    async def note(connection: FrameConnection, frame: Frame) -> None:
        received.append(frame.payload)

    async def fast_sleep(delay: float) -> None:
        await asyncio.sleep(0.005)

    async def scenario() -> None:
        impostor_context = pki.server_context(Role.PEER, "n3")  # type: ignore[attr-defined]
        server = FrameServer(
            port_name="peer", context=lambda: impostor_context, policy=peer_policy, handlers={"note": note}
        )
        _, port = await server.start("127.0.0.1", 0)
        link = PeerLink(
            peer_name="n1",
            address=lambda: ("127.0.0.1", port),
            context=lambda: pki.client_context(Role.PEER, "n2"),  # type: ignore[attr-defined]
            expect=peer_policy,
            sleep=fast_sleep,
        )
        link.send(Frame("note", "secret"))
        async with asyncio.TaskGroup() as group:
            runner = group.create_task(link.run())
            await _wait_for(lambda: link.last_error is not None and "not_member" in link.last_error)
            runner.cancel()
        await server.close()

    asyncio.run(scenario())
    assert received == []
