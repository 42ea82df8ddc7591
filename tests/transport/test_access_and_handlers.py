"""Access policy decisions, and a failing handler closing only its own connection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from hive_operator.pki import Identity, Role
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


def test_policy_reasons_and_live_membership() -> None:
    members = {"n1", "n2"}
    policy = AccessPolicy("prod", "alpha", frozenset({Role.PEER}), names=lambda: members)
    policy.check(Identity("prod", "alpha", Role.PEER, "n2"))
    cases = [
        (Identity("prod", "beta", Role.PEER, "n2"), "wrong_cluster"),
        (Identity("test", "alpha", Role.PEER, "n2"), "wrong_cluster"),
        (Identity("prod", "alpha", Role.CLIENT, "n2"), "wrong_role"),
        (Identity("prod", "alpha", Role.PEER, "n4"), "not_member"),
    ]
    for identity, reason in cases:
        with pytest.raises(AccessDenied) as raised:
            policy.check(identity)
        assert raised.value.reason == reason
    members.add("n4")  # a member added at run time is admitted without rebuilding the policy
    policy.check(Identity("prod", "alpha", Role.PEER, "n4"))
    members.discard("n2")
    with pytest.raises(AccessDenied, match="not_member"):
        policy.check(Identity("prod", "alpha", Role.PEER, "n2"))


def test_client_port_policy_admits_any_name_of_allowed_roles() -> None:
    policy = AccessPolicy("prod", "alpha", frozenset({Role.CLIENT, Role.OPERATOR}))
    policy.check(Identity("prod", "alpha", Role.CLIENT, "desk-1"))
    policy.check(Identity("prod", "alpha", Role.OPERATOR, "operator"))
    with pytest.raises(AccessDenied, match="wrong_role"):
        policy.check(Identity("prod", "alpha", Role.PEER, "n1"))


def test_failing_handler_closes_only_its_connection(
    pki: object, peer_policy: AccessPolicy, metric: Callable[..., float]
) -> None:
    async def explode(connection: FrameConnection, frame: Frame) -> None:
        raise ValueError("bad payload")

    async def echo(connection: FrameConnection, frame: Frame) -> None:
        await connection.send(frame)

    async def scenario() -> None:
        registry = CollectorRegistry()
        context = pki.server_context(Role.PEER, "n1")  # type: ignore[attr-defined]
        server = FrameServer(
            port_name="peer",
            context=lambda: context,
            policy=peer_policy,
            handlers={"explode": explode, "echo": echo},
            metrics=TransportMetrics(registry),
        )
        _, port = await server.start("127.0.0.1", 0)
        client_context = pki.client_context(Role.PEER, "n2")  # type: ignore[attr-defined]
        expect = peer_policy.for_member("n1")
        healthy = await connect("127.0.0.1", port, context=client_context, expect=expect)
        doomed = await connect("127.0.0.1", port, context=client_context, expect=expect)
        assert await healthy.request(Frame("echo", 1)) == Frame("echo", 1)
        await asyncio.sleep(0.05)
        assert metric(registry, "hive_open_connections", port="peer") == 2
        await doomed.send(Frame("explode", None))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(doomed.receive(), 5)
        assert await healthy.request(Frame("echo", 2)) == Frame("echo", 2)
        assert metric(registry, "hive_frames_rejected_total", port="peer", reason="handler_error") == 1
        assert metric(registry, "hive_open_connections", port="peer") == 1
        await healthy.close()
        await doomed.close()
        await server.close()

    asyncio.run(scenario())
