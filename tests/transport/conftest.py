"""Real certificates on disk for transport tests: one cluster CA, a foreign CA, identities of each role."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hive_operator.pki import CertificateAuthority, Identity, Role, create_ca, issue_certificate
from hive_runtime.tlsfiles import TlsPaths, build_client_context, build_server_context, write_tls_files
from hive_runtime.transport import AccessPolicy

NAMESPACE = "test"
CLUSTER = "alpha"
MEMBERS = ("n1", "n2", "n3")


@dataclass
class TestPki:
    root: Path
    ca: CertificateAuthority
    foreign_ca: CertificateAuthority

    def paths(self, role: Role, name: str, *, foreign: bool = False, trust_foreign: bool = False) -> TlsPaths:
        """Write a certificate for ``role``/``name`` (from the foreign CA if asked); return its files."""
        issuer = self.foreign_ca if foreign else self.ca
        trusted = self.foreign_ca if trust_foreign else self.ca
        now = datetime.now(UTC)
        identity = Identity(namespace=NAMESPACE, cluster=CLUSTER, role=role, name=name)
        issued = issue_certificate(
            issuer, identity, now=now, valid_for=timedelta(days=1), ip_addresses=["127.0.0.1"]
        )
        directory = self.root / f"{role.value}-{name}-{'foreign' if foreign else 'own'}-{id(issued)}"
        return write_tls_files(
            directory,
            ca_pem=trusted.certificate_pem,
            cert_pem=issued.certificate_pem,
            key_pem=issued.private_key_pem,
        )

    def server_context(self, role: Role = Role.PEER, name: str = "n1") -> ssl.SSLContext:
        return build_server_context(self.paths(role, name))

    def client_context(self, role: Role, name: str, *, foreign: bool = False) -> ssl.SSLContext:
        return build_client_context(self.paths(role, name, foreign=foreign))


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    now = datetime.now(UTC)
    return TestPki(
        root=tmp_path_factory.mktemp("pki"),
        ca=create_ca(common_name="hive test CA", now=now, valid_for=timedelta(days=2)),
        foreign_ca=create_ca(common_name="someone else's CA", now=now, valid_for=timedelta(days=2)),
    )


@pytest.fixture
def peer_policy() -> AccessPolicy:
    return AccessPolicy(NAMESPACE, CLUSTER, frozenset({Role.PEER}), names=lambda: MEMBERS)


@pytest.fixture
def metric() -> Callable[..., float]:
    def read(registry: object, name: str, **labels: str) -> float:
        value = registry.get_sample_value(name, labels)  # type: ignore[attr-defined]
        return 0.0 if value is None else float(value)

    return read
