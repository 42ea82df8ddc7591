"""Cluster PKI: CA creation, role-bearing leaf certificates, identity parsing, rotation schedule."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from hive_operator.pki import (
    CertificateAuthority,
    Identity,
    IdentityError,
    Role,
    certificate_info,
    create_ca,
    identity_from_certificate,
    identity_from_der,
    issue_certificate,
    pod_dns_names,
    renewal_due,
    renewal_time,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return create_ca(common_name="hive-ca prod/alpha", now=NOW, valid_for=timedelta(days=365))


def test_ca_is_a_self_signed_ca(ca: CertificateAuthority) -> None:
    cert = ca.certificate
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(cert)
    reloaded = CertificateAuthority.from_pem(
        certificate_pem=ca.certificate_pem, private_key_pem=ca.private_key_pem
    )
    assert reloaded.certificate == cert


def test_leaf_carries_identity_and_sans(ca: CertificateAuthority) -> None:
    identity = Identity(namespace="prod", cluster="alpha", role=Role.PEER, name="alpha-1")
    issued = issue_certificate(
        ca,
        identity,
        now=NOW,
        valid_for=timedelta(days=30),
        dns_names=["alpha-1.alpha.prod.svc"],
        ip_addresses=["10.0.0.7"],
    )
    issued.certificate.verify_directly_issued_by(ca.certificate)
    san = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["alpha-1.alpha.prod.svc"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]
    assert identity_from_certificate(issued.certificate) == identity
    der = issued.certificate.public_bytes(serialization.Encoding.DER)
    assert identity_from_der(der) == identity
    subject = issued.certificate.subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "peer"
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alpha-1"
    assert issued.certificate.not_valid_after_utc == NOW + timedelta(days=30)


def test_leaf_never_outlives_its_ca(ca: CertificateAuthority) -> None:
    identity = Identity(namespace="prod", cluster="alpha", role=Role.OPERATOR, name="operator")
    issued = issue_certificate(ca, identity, now=NOW, valid_for=timedelta(days=5000))
    assert issued.certificate.not_valid_after_utc == ca.certificate.not_valid_after_utc


@pytest.mark.parametrize(
    "uri",
    [
        "https://hive/prod/alpha/peer/a",
        "spiffe://hive/prod/alpha/peer",
        "spiffe://hive/prod/alpha/king/a",
        "spiffe://hive/prod/alpha/peer/UPPER",
        "spiffe://hive/prod//peer/a",
    ],
)
def test_bad_identity_uris_are_rejected(uri: str) -> None:
    with pytest.raises(IdentityError):
        Identity.from_uri(uri)


def test_certificate_without_identity_is_rejected(ca: CertificateAuthority) -> None:
    with pytest.raises(IdentityError, match="subjectAltName"):
        identity_from_certificate(ca.certificate)
    with pytest.raises(IdentityError, match="unparseable"):
        identity_from_der(b"not a certificate")


def test_identity_uri_round_trip() -> None:
    identity = Identity(namespace="ns", cluster="c1", role=Role.CLIENT, name="desk-7")
    assert identity.uri == "spiffe://hive/ns/c1/client/desk-7"
    assert Identity.from_uri(identity.uri) == identity


def test_rotation_schedule() -> None:
    not_before = NOW
    not_after = NOW + timedelta(days=90)
    renew_before = timedelta(days=30)
    assert renewal_time(
        not_before=not_before, not_after=not_after, renew_before=renew_before
    ) == NOW + timedelta(days=60)
    kwargs = {"not_before": not_before, "not_after": not_after, "renew_before": renew_before}
    assert not renewal_due(now=NOW + timedelta(days=59), **kwargs)
    assert renewal_due(now=NOW + timedelta(days=60), **kwargs)
    # renew_before longer than the lifetime: renew at two thirds of the life, not immediately
    short = renewal_time(not_before=NOW, not_after=NOW + timedelta(hours=3), renew_before=timedelta(days=1))
    assert short == NOW + timedelta(hours=2)
    with pytest.raises(ValueError):
        renewal_time(not_before=NOW, not_after=NOW, renew_before=renew_before)


def test_certificate_info_for_the_rotation_planner(ca: CertificateAuthority) -> None:
    identity = Identity(namespace="prod", cluster="alpha", role=Role.PEER, name="alpha-0")
    dns = pod_dns_names(pod="alpha-0", service="alpha-peers", namespace="prod")
    assert dns[-1] == "alpha-0.alpha-peers.prod.svc.cluster.local"
    issued = issue_certificate(ca, identity, now=NOW, valid_for=timedelta(days=30), dns_names=dns)
    info = certificate_info(issued.certificate_pem)
    assert info.identity == identity
    assert info.serial_hex == issued.serial_hex
    assert (info.not_before, info.not_after) == (NOW - timedelta(minutes=1), NOW + timedelta(days=30))
    assert "hive-ca prod/alpha" in info.issuer
    assert certificate_info(ca.certificate_pem).identity is None
    with pytest.raises(ValueError):
        certificate_info(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
