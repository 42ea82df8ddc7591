"""Create a cluster CA and issue leaf certificates for peers, clients and the operator.

Keys are ECDSA P-256: small, and the cheapest common curve for TLS 1.3 handshakes, which matter
because the client and peer ports see a handshake per connection. Every leaf carries its
:class:`~hive_operator.pki.identity.Identity` as a URI SAN plus DNS/IP SANs for hostname checks,
and is usable for both server and client authentication (replicas are both).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hive_runtime.identity import Identity, IdentityError, identity_from_certificate


def _private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA certificate and its private key."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def private_key_pem(self) -> bytes:
        return _private_key_pem(self.private_key)

    @classmethod
    def from_pem(cls, *, certificate_pem: bytes, private_key_pem: bytes) -> CertificateAuthority:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("CA private key must be an EC key")
        return cls(certificate=x509.load_pem_x509_certificate(certificate_pem), private_key=key)


@dataclass(frozen=True)
class IssuedCertificate:
    """A leaf certificate, its key, and the identity it was issued for."""

    identity: Identity
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def private_key_pem(self) -> bytes:
        return _private_key_pem(self.private_key)

    @property
    def serial_hex(self) -> str:
        return format(self.certificate.serial_number, "x")


@dataclass(frozen=True)
class CertificateInfo:
    """What the rotation planner needs to know about a certificate found in a Secret."""

    serial_hex: str
    not_before: datetime
    not_after: datetime
    identity: Identity | None  # None for a CA or a certificate without a Hive identity
    issuer: str


def certificate_info(certificate_pem: bytes) -> CertificateInfo:
    """Parse a PEM certificate into :class:`CertificateInfo` (``ValueError`` if it is not one)."""
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    try:
        identity: Identity | None = identity_from_certificate(certificate)
    except IdentityError:
        identity = None
    return CertificateInfo(
        serial_hex=format(certificate.serial_number, "x"),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        identity=identity,
        issuer=certificate.issuer.rfc4514_string(),
    )


def pod_dns_names(
    *, pod: str, service: str, namespace: str, cluster_domain: str = "cluster.local"
) -> list[str]:
    """DNS SANs of a StatefulSet pod behind a headless Service (short to fully qualified)."""
    base = f"{pod}.{service}.{namespace}.svc"
    return [pod, f"{pod}.{service}", f"{pod}.{service}.{namespace}", base, f"{base}.{cluster_domain}"]


def create_ca(*, common_name: str, now: datetime, valid_for: timedelta) -> CertificateAuthority:
    """A self-signed CA valid from ``now`` (minus a minute of clock-skew slack) for ``valid_for``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hive"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + valid_for)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(certificate=certificate, private_key=key)


def issue_certificate(
    ca: CertificateAuthority,
    identity: Identity,
    *,
    now: datetime,
    valid_for: timedelta,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
) -> IssuedCertificate:
    """Issue a leaf certificate for ``identity`` with the given DNS and IP SANs."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hive"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, identity.role.value),
            x509.NameAttribute(NameOID.COMMON_NAME, identity.name),
        ]
    )
    general_names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity.uri)]
    general_names += [x509.DNSName(dns) for dns in dns_names]
    general_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    not_after = min(now + valid_for, ca.certificate.not_valid_after_utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(general_names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()), critical=False
        )
        .sign(ca.private_key, hashes.SHA256())
    )
    return IssuedCertificate(identity=identity, certificate=certificate, private_key=key)
