"""Certificates rotate in place: new connections use new material, none fail while it happens."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from hive_operator.pki import CertificateAuthority, Identity, Role, create_ca, issue_certificate
from hive_runtime.tlsfiles import TlsMaterial, TlsPaths, write_tls_files
from hive_runtime.transport import AccessPolicy, Frame, FrameConnection, FrameServer, connect

POLICY = AccessPolicy("test", "alpha", frozenset({Role.PEER}), names=lambda: ("n1", "n2"))


def _write(directory: Path, ca_pem: bytes, issuer: CertificateAuthority, name: str) -> tuple[TlsPaths, int]:
    identity = Identity(namespace="test", cluster="alpha", role=Role.PEER, name=name)
    issued = issue_certificate(issuer, identity, now=datetime.now(UTC), valid_for=timedelta(hours=1))
    paths = write_tls_files(
        directory, ca_pem=ca_pem, cert_pem=issued.certificate_pem, key_pem=issued.private_key_pem
    )
    return paths, issued.certificate.serial_number


def _new_ca(name: str) -> CertificateAuthority:
    return create_ca(common_name=name, now=datetime.now(UTC), valid_for=timedelta(days=1))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_poll_follows_the_injected_clock_and_survives_half_rotations(tmp_path: Path) -> None:
    ca = _new_ca("ca")
    paths, first_serial = _write(tmp_path, ca.certificate_pem, ca, "n1")
    clock = FakeClock()
    registry = CollectorRegistry()
    material = TlsMaterial(paths, poll_interval=5.0, clock=clock, registry=registry)
    assert material.certificate.serial_number == first_serial
    old_context = material.server_context

    replacement = issue_certificate(
        ca, Identity("test", "alpha", Role.PEER, "n1"), now=datetime.now(UTC), valid_for=timedelta(hours=1)
    )
    paths.cert.write_bytes(replacement.certificate_pem)  # the key is not rotated yet
    clock.now = 4.9
    assert not material.poll_if_due()  # not due: nothing read
    clock.now = 5.0
    assert not material.poll_if_due()  # due, but certificate and key do not match: keep the old set
    assert material.server_context is old_context
    assert material.last_error is not None
    assert registry.get_sample_value("hive_tls_reload_failures_total") == 1

    paths.key.write_bytes(replacement.private_key_pem)
    clock.now = 10.0
    assert material.poll_if_due()
    assert material.server_context is not old_context
    assert material.certificate.serial_number == replacement.certificate.serial_number
    assert material.generation == 2
    assert registry.get_sample_value("hive_tls_reloads_total") == 1
    assert not material.poll()  # unchanged files: no reload
    expiry = registry.get_sample_value("hive_tls_certificate_expiry_timestamp_seconds")
    assert expiry == replacement.certificate.not_valid_after_utc.timestamp()


def test_rotation_under_load_fails_no_request(tmp_path: Path) -> None:
    """Leaf rotation on both sides, then a CA roll-over, while clients keep opening connections."""
    old_ca = _new_ca("old ca")
    server_paths, _ = _write(tmp_path / "server", old_ca.certificate_pem, old_ca, "n1")
    client_paths, _ = _write(tmp_path / "client", old_ca.certificate_pem, old_ca, "n2")
    server_tls = TlsMaterial(server_paths, poll_interval=0.02)
    client_tls = TlsMaterial(client_paths, poll_interval=0.02)
    outcomes = {"ok": 0, "failed": 0}
    errors: list[str] = []
    seen_serials: set[int] = set()

    async def echo(connection: FrameConnection, frame: Frame) -> None:
        await connection.send(Frame("echo", frame.payload))

    async def client(port: int, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                connection = await connect(
                    "127.0.0.1", port, context=client_tls.client_context, expect=POLICY.for_member("n1")
                )
                ssl_object = connection.writer.get_extra_info("ssl_object")
                reply = await connection.request(Frame("echo", "ping"))
                await connection.close()
                assert reply.payload == "ping"
                outcomes["ok"] += 1
                der = ssl_object.getpeercert(binary_form=True)
                from cryptography import x509

                seen_serials.add(x509.load_der_x509_certificate(der).serial_number)
            except Exception as error:  # every failure is a test failure; keep counting
                outcomes["failed"] += 1
                errors.append(f"{type(error).__name__}: {error}")

    async def wait_generation(material: TlsMaterial, generation: int) -> None:
        async with asyncio.timeout(5):
            while material.generation < generation:
                await asyncio.sleep(0.01)

    async def scenario() -> None:
        server = FrameServer(
            port_name="peer",
            context=lambda: server_tls.server_context,
            policy=POLICY,
            handlers={"echo": echo},
        )
        _, port = await server.start("127.0.0.1", 0)
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            watchers = [group.create_task(server_tls.watch()), group.create_task(client_tls.watch())]
            clients = [group.create_task(client(port, stop)) for _ in range(4)]
            await asyncio.sleep(0.2)
            # 1. leaf rotation on both sides, same CA
            _, new_server_serial = _write(tmp_path / "server", old_ca.certificate_pem, old_ca, "n1")
            _write(tmp_path / "client", old_ca.certificate_pem, old_ca, "n2")
            await wait_generation(server_tls, 2)
            await wait_generation(client_tls, 2)
            await asyncio.sleep(0.2)
            # 2. CA roll-over: both sides trust old+new, then leaves from the new CA
            new_ca = _new_ca("new ca")
            bundle = old_ca.certificate_pem + new_ca.certificate_pem
            _write(tmp_path / "server", bundle, old_ca, "n1")
            _write(tmp_path / "client", bundle, old_ca, "n2")
            await wait_generation(server_tls, 3)
            await wait_generation(client_tls, 3)
            _, newest_server_serial = _write(tmp_path / "server", bundle, new_ca, "n1")
            _write(tmp_path / "client", bundle, new_ca, "n2")
            await wait_generation(server_tls, 4)
            await wait_generation(client_tls, 4)
            await asyncio.sleep(0.2)
            stop.set()
            for task in clients:
                await task
            for task in watchers:
                task.cancel()
        await server.close()
        assert new_server_serial in seen_serials
        assert newest_server_serial in seen_serials

    asyncio.run(scenario())
    assert outcomes["failed"] == 0, errors[:5]
    assert outcomes["ok"] > 50
