"""Throwaway certificates and keys for a local cluster, written as the pod would see them mounted."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hive_operator.pki.authority import CertificateAuthority, create_ca, issue_certificate
from hive_operator.pki.identity import Identity, Role
from hive_runtime.audit.signing import generate_key_files


@dataclass(frozen=True)
class TlsFileSet:
    ca: Path
    cert: Path
    key: Path


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


class LocalPki:
    """A CA under ``root`` and the certificates a local cluster needs, issued on demand."""

    def __init__(self, root: Path, *, namespace: str, cluster: str) -> None:
        self.root = root
        self.namespace = namespace
        self.cluster = cluster
        self.now = datetime.now(UTC)
        self.ca: CertificateAuthority = create_ca(
            common_name=f"hive local CA {cluster}", now=self.now, valid_for=timedelta(days=30)
        )
        self.ca_path = root / "ca.crt"
        self.ca_path.parent.mkdir(parents=True, exist_ok=True)
        self.ca_path.write_bytes(self.ca.certificate_pem)

    def issue(
        self, *, role: Role, name: str, ip_addresses: tuple[str, ...] = (), valid_for: timedelta | None = None
    ) -> TlsFileSet:
        identity = Identity(namespace=self.namespace, cluster=self.cluster, role=role, name=name)
        issued = issue_certificate(
            self.ca,
            identity,
            now=datetime.now(UTC),
            valid_for=valid_for or timedelta(days=7),
            dns_names=(name,),
            ip_addresses=ip_addresses,
        )
        directory = self.root / f"{role.value}-{name}"
        directory.mkdir(parents=True, exist_ok=True)
        files = TlsFileSet(ca=directory / "ca.crt", cert=directory / "tls.crt", key=directory / "tls.key")
        files.ca.write_bytes(self.ca.certificate_pem)
        _write_private(files.key, issued.private_key_pem)
        files.cert.write_bytes(issued.certificate_pem)
        return files


def write_secret_key(path: Path) -> Path:
    """A random 32-byte key (backups) as hex, readable only by its owner."""
    _write_private(path, os.urandom(32).hex().encode())
    return path


def write_audit_keys(directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / "audit.key", directory / "audit.pub"
    generate_key_files(private, public)
    os.chmod(private, 0o600)
    return private, public
