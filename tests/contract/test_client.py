"""The admin client against a local mutual-TLS server that answers what a test wants: typed
errors, contract-version checks, and the server identity check."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from hive_cli.local.material import LocalPki, TlsFileSet
from hive_operator.pki.identity import Role
from hive_runtime.contract.client import (
    AdminClient,
    ContractMismatch,
    Forbidden,
    InvalidRequest,
    NotFound,
    NotLeader,
    Unreachable,
    client_context,
)
from hive_runtime.tlsfiles import TlsPaths, build_server_context

Serve = Callable[..., Any]


def _error(status: int, error: str, **extra: Any) -> web.Response:
    body = {"contractVersion": 1, "error": error, "message": f"{error}!", **extra}
    return web.json_response(body, status=status)


@pytest.fixture
def pki(tmp_path: Path) -> LocalPki:
    return LocalPki(tmp_path / "tls", namespace="ns", cluster="c")


@pytest.fixture
async def serve(pki: LocalPki) -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []
    seen: list[Any] = []

    async def start(
        *, role: Role = Role.PEER, pki_for_server: LocalPki | None = None
    ) -> tuple[str, list[Any]]:
        files = (pki_for_server or pki).issue(role=role, name="c-0", ip_addresses=("127.0.0.1",))
        context = build_server_context(TlsPaths(ca=pki.ca_path, cert=files.cert, key=files.key))

        async def status(_: web.Request) -> web.Response:
            return web.json_response({"contractVersion": 2, "nodeId": 1})

        async def digest(request: web.Request) -> web.Response:
            seen.append(dict(request.query))
            return _error(404, "notFound")

        async def transfer(request: web.Request) -> web.Response:
            seen.append(json.loads(await request.read()))
            return _error(400, "invalid", field="target")

        async def members(_: web.Request) -> web.Response:
            return _error(409, "notLeader", leader=3)

        async def backups(_: web.Request) -> web.Response:
            return web.Response(status=500, text="Internal Server Error")

        app = web.Application()
        app.router.add_get("/status", status)
        app.router.add_get("/digest", digest)
        app.router.add_post("/leadership/transfer", transfer)
        app.router.add_post("/members", members)
        app.router.add_post("/backups", backups)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"https://127.0.0.1:{port}", seen

    yield start
    for runner in runners:
        await runner.cleanup()


def _client(url: str, files: TlsFileSet, *, cluster: str = "c") -> AdminClient:
    context = client_context(ca=files.ca, cert=files.cert, key=files.key, namespace="ns", cluster=cluster)
    return AdminClient(url, context=context, timeout=5)


async def test_answers_map_to_typed_errors(pki: LocalPki, serve: Serve) -> None:
    url, seen = await serve()
    async with _client(url, pki.issue(role=Role.OPERATOR, name="op")) as admin:
        with pytest.raises(ContractMismatch, match="StatusResponse"):
            await admin.status()  # contractVersion 2 is not what this client speaks
        with pytest.raises(NotFound):
            await admin.digest(at_least=10)
        with pytest.raises(InvalidRequest) as invalid:
            await admin.transfer_leadership(target=2)
        assert invalid.value.field == "target" and invalid.value.status == 400
        with pytest.raises(NotLeader) as redirected:
            await admin.add_learner(4)
        assert redirected.value.leader == 3
        with pytest.raises(ContractMismatch, match="without a contract error body"):
            await admin.backup("/backups")
        with pytest.raises(ValueError, match="not both"):
            await admin.digest(index=1, at_least=2)
    assert seen == [{"atLeast": "10"}, {"target": 2, "waitSeconds": 0.0}]


async def test_the_server_must_be_a_peer_of_the_expected_cluster(
    pki: LocalPki, serve: Serve, tmp_path: Path
) -> None:
    operator = pki.issue(role=Role.OPERATOR, name="op")
    url, _ = await serve(role=Role.CLIENT)
    async with _client(url, operator) as admin:
        with pytest.raises(Forbidden, match="role client, not peer"):
            await admin.digest()
    url, _ = await serve()
    async with _client(url, operator, cluster="other") as admin:
        with pytest.raises(Forbidden, match="not a member of ns/other"):
            await admin.digest()
    stranger = LocalPki(tmp_path / "other-ca", namespace="ns", cluster="c")
    url, _ = await serve(pki_for_server=stranger)  # a certificate our CA did not issue
    async with _client(url, operator) as admin:
        with pytest.raises(Unreachable, match="CERTIFICATE_VERIFY_FAILED"):
            await admin.digest()


def test_a_context_without_the_identity_check_is_refused(pki: LocalPki) -> None:
    import ssl

    with pytest.raises(ValueError, match="client_context"):
        AdminClient("https://127.0.0.1:1", context=ssl.create_default_context())


async def test_nothing_listening_is_unreachable(pki: LocalPki) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with _client(f"https://127.0.0.1:{port}", pki.issue(role=Role.OPERATOR, name="op")) as admin:
        with pytest.raises(Unreachable):
            await admin.status()
