"""Who may talk to a real node: only certificates from the cluster CA, in the right role."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hive_cli.local.cluster import LocalCluster
from hive_cli.local.material import LocalPki
from hive_operator.pki.identity import Role
from hive_runtime.transport import AccessPolicy, ConnectionClosed, connect

# With TLS 1.3 the server checks the client certificate after the client's side of the handshake
# has finished, so a refusal shows up as a TLS alert or as the connection closing at first read.
REFUSED = (ssl.SSLError, ConnectionError, OSError, TimeoutError, ConnectionClosed)


def _context(files_ca: Path, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(cafile=str(files_ca))
    if cert is not None and key is not None:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    return context


async def _metrics(cluster: LocalCluster, node_id: int) -> str:
    url = f"http://{cluster.host(node_id)}:{cluster.ports['metrics']}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.text()


def _counter(metrics: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
async def running(make_cluster: Callable[..., LocalCluster]) -> LocalCluster:
    cluster = make_cluster(replicas=1)
    cluster.start_all()
    await cluster.wait_ready(within=60)
    return cluster


async def test_peer_with_a_certificate_from_another_ca_is_refused(
    running: LocalCluster, tmp_path: Path
) -> None:
    impostor = LocalPki(tmp_path / "other-ca", namespace=running.namespace, cluster=running.cluster)
    files = impostor.issue(role=Role.PEER, name=f"{running.cluster}-1")
    policy = AccessPolicy(running.namespace, running.cluster, frozenset({Role.PEER}))
    context = _context(running.pki.ca_path, files.cert, files.key)  # trusts the real CA, presents a fake
    with pytest.raises(REFUSED):
        connection = await connect(running.host(1), running.ports["peer"], context=context, expect=policy)
        await connection.receive()
    metrics = await _metrics(running, 1)
    assert _counter(metrics, "hive_connections_refused_total", port="peer") >= 1


async def test_client_without_a_certificate_is_refused(running: LocalCluster) -> None:
    policy = AccessPolicy(running.namespace, running.cluster, frozenset({Role.PEER}))
    context = _context(running.pki.ca_path, None, None)
    with pytest.raises(REFUSED):
        connection = await connect(running.host(1), running.ports["client"], context=context, expect=policy)
        await connection.receive()
    metrics = await _metrics(running, 1)
    assert _counter(metrics, "hive_connections_refused_total", port="client", reason="no_certificate") >= 1


async def test_a_client_certificate_cannot_act_as_a_peer(running: LocalCluster) -> None:
    files = running.client_tls_files
    policy = AccessPolicy(running.namespace, running.cluster, frozenset({Role.PEER}))
    context = _context(files.ca, files.cert, files.key)
    with pytest.raises(REFUSED):
        connection = await connect(running.host(1), running.ports["peer"], context=context, expect=policy)
        await connection.receive()
    assert _counter(await _metrics(running, 1), "hive_connections_refused_total", reason="wrong_role") >= 1


async def test_trader_certificate_cannot_change_controls_or_call_mutating_admin(
    running: LocalCluster,
) -> None:
    from hive_runtime.client import ClientError
    from hive_runtime.trading.commands import SetKillSwitch

    async with running.client() as trader:
        with pytest.raises(ClientError, match="forbidden"):
            await trader.submit(SetKillSwitch(0, "", engaged=True))
    files = running.client_tls_files
    context = _context(files.ca, files.cert, files.key)
    url = f"https://{running.host(1)}:{running.ports['admin']}/leadership/transfer"
    async with aiohttp.ClientSession() as session, session.post(url, json={}, ssl=context) as response:
        assert response.status == 403
    async with running.client(operator=True) as operator:
        result = await operator.submit(SetKillSwitch(0, "", engaged=True))
        assert result.outcome is not None and result.outcome.accepted


async def test_admin_api_requires_a_client_certificate(running: LocalCluster) -> None:
    context = _context(running.pki.ca_path, None, None)
    url = f"https://{running.host(1)}:{running.ports['admin']}/status"
    with pytest.raises(aiohttp.ClientError):
        async with aiohttp.ClientSession() as session, session.get(url, ssl=context) as response:
            await response.read()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(min_size=1, max_size=600))
async def test_fuzzed_frames_never_crash_a_node(running: LocalCluster, garbage: bytes) -> None:
    files = running.client_tls_files
    context = _context(files.ca, files.cert, files.key)
    reader, writer = await asyncio.open_connection(running.host(1), running.ports["client"], ssl=context)
    writer.write(garbage)
    await writer.drain()
    try:
        async with asyncio.timeout(0.5):
            await reader.read(1024)
    except (TimeoutError, ConnectionError, ssl.SSLError):
        pass
    writer.close()
    async with running.client() as client:
        assert (await client.ping())["leader"] == 1


async def test_fuzzing_is_counted_by_reason(running: LocalCluster) -> None:
    files = running.client_tls_files
    context = _context(files.ca, files.cert, files.key)
    reader, writer = await asyncio.open_connection(running.host(1), running.ports["client"], ssl=context)
    writer.write(b"\xff\xff\xff\xff" + b"x" * 16)  # a 4 GiB frame announced
    await writer.drain()
    await reader.read(1024)
    writer.close()
    metrics = await _metrics(running, 1)
    assert _counter(metrics, "hive_frames_rejected_total", port="client", reason="oversized") >= 1


def test_certificates_expire_as_issued(tmp_path: Path) -> None:
    pki = LocalPki(tmp_path, namespace="n", cluster="c")
    files = pki.issue(role=Role.CLIENT, name="x", valid_for=timedelta(hours=1))
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate(files.cert.read_bytes())
    remaining = certificate.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(minutes=58) < remaining <= timedelta(hours=1)
    assert socket.gethostname()
