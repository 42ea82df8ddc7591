"""Certificates and keys of the test bed's control plane, made with ``cryptography``.

One CA signs the API server's serving certificate and a client certificate per identity, so every
component is authenticated and authorised as it would be in a real cluster: the admin in
``system:masters``, ``system:kube-controller-manager``, ``system:kube-scheduler``, each node as
``system:node:<name>`` in ``system:nodes`` (so the Node authorizer and NodeRestriction apply), and
the bed's own network and volume components under names RBAC grants explicitly. The service-account
token signing key pair is made here too. Files are written once and reused, so a restarted bed keeps
trusting what it issued before.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=3650)


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    tmp.replace(path)


class PlanePki:
    """The bed's PKI under ``directory``: ``ca.crt``, ``<name>.crt``/``<name>.key`` per identity."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._ca_key: ec.EllipticCurvePrivateKey | None = None
        self._ca_cert: x509.Certificate | None = None

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.crt"

    def cert_file(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key_file(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    @property
    def sa_private_key(self) -> Path:
        return self.directory / "service-accounts.key"

    @property
    def sa_public_key(self) -> Path:
        return self.directory / "service-accounts.pub"

    def _ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        if self._ca_key is not None and self._ca_cert is not None:
            return self._ca_key, self._ca_cert
        key_path = self.directory / "ca.key"
        if key_path.exists() and self.ca_file.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            cert = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hive-testbed-ca")])
            now = datetime.datetime.now(datetime.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + VALIDITY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=True,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=True,
                        crl_sign=True,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256())
            )
            _write(key_path, _pem_key(key), 0o600)
            _write(self.ca_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        self._ca_key, self._ca_cert = key, cert
        return key, cert

    def issue(
        self,
        name: str,
        *,
        common_name: str,
        organizations: tuple[str, ...] = (),
        dns_names: tuple[str, ...] = (),
        ip_addresses: tuple[str, ...] = (),
        server: bool = False,
    ) -> tuple[Path, Path]:
        """Issue (or reuse) the certificate ``name``; returns its certificate and key paths."""
        cert_path, key_path = self.cert_file(name), self.key_file(name)
        if cert_path.exists() and key_path.exists():
            return cert_path, key_path
        ca_key, ca_cert = self._ca()
        key = ec.generate_private_key(ec.SECP256R1())
        subject = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
        subject.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        now = datetime.datetime.now(datetime.UTC)
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(subject))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        )
        alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write(key_path, _pem_key(key), 0o600)
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return cert_path, key_path

    def service_account_keys(self) -> tuple[Path, Path]:
        """The RSA key pair that signs and verifies service-account tokens (private, public)."""
        if not (self.sa_private_key.exists() and self.sa_public_key.exists()):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            _write(self.sa_private_key, _pem_key(key), 0o600)
            _write(self.sa_public_key, public, 0o644)
        return self.sa_private_key, self.sa_public_key
