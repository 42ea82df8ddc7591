"""A cluster's certificates over time: issue what is missing, renew what is due, rotate the CA.

:func:`reconcile_pki` is pure apart from key generation: given what the Secrets hold now, what
each leaf must say, the policy, the clock and what each pod reports it has loaded, it returns the
material the Secrets should hold next and the changes made (each becomes an event). Nothing here
restarts anything: the runtime reloads its files in place, so every step only rewrites Secrets.

CA rotation keeps old and new CA trusted until every leaf is reissued, in three steps, each
taken on a later reconcile once the pods report the previous one has landed:

1. *trust*: a new CA is created; the trust bundle becomes ``new + old``; leaves stay signed by
   the old CA (which stays able to sign, so a pod added meanwhile is trusted by everyone);
2. *reissue*: once every pod reports the fingerprint of that bundle, every leaf is reissued by
   the new CA;
3. *retire*: once every pod reports its new leaf's serial, the old CA leaves the bundle.

A pod that does not report (down, unreachable) holds the rotation at its step: it will load the
current files when it starts, but the operator cannot know it has until it says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from hive_operator.pki.authority import CertificateAuthority, create_ca, issue_certificate
from hive_operator.pki.identity import Identity, IdentityError, identity_from_certificate
from hive_operator.pki.rotation import ca_renewal_time, renewal_time


def bundle_fingerprint(bundle_pem: bytes) -> str:
    """SHA-256 (hex) of a trust bundle file, as the runtime reports the bundle it has loaded."""
    return hashlib.sha256(bundle_pem).hexdigest()


@dataclass(frozen=True)
class StoredLeaf:
    """A leaf certificate and its key as a Secret holds them (PEM)."""

    certificate_pem: bytes
    private_key_pem: bytes


@dataclass(frozen=True)
class ClusterPki:
    """The signing CA, the CA being retired (trusted until rotation ends) and every leaf."""

    ca: CertificateAuthority
    retiring: CertificateAuthority | None = None
    leaves: Mapping[str, StoredLeaf] = field(default_factory=dict)

    def trust_bundle(self) -> bytes:
        """The CA file every party trusts: the signing CA, then the retiring one."""
        bundle = self.ca.certificate_pem
        if self.retiring is not None:
            bundle += self.retiring.certificate_pem
        return bundle

    @property
    def fingerprint(self) -> str:
        return bundle_fingerprint(self.trust_bundle())

    def serial(self, name: str) -> str | None:
        leaf = self.leaves.get(name)
        if leaf is None:
            return None
        try:
            return format(x509.load_pem_x509_certificate(leaf.certificate_pem).serial_number, "x")
        except ValueError:
            return None


@dataclass(frozen=True)
class LeafRequest:
    """What one leaf must say: its identity and the DNS names it serves."""

    name: str
    identity: Identity
    dns_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class RotationPolicy:
    leaf_duration: timedelta
    ca_duration: timedelta
    renew_before: timedelta | None = None


@dataclass(frozen=True)
class PodTrust:
    """What a running pod reports about its TLS files (from the admin API's ``/status``)."""

    bundle_fingerprint: str | None = None
    certificate_serial: str | None = None


class CaPhase(StrEnum):
    STABLE = "Stable"
    DISTRIBUTING_TRUST = "DistributingTrust"
    REISSUING = "Reissuing"


@dataclass(frozen=True)
class PkiChange:
    """One thing :func:`reconcile_pki` did; ``reason`` is the event reason."""

    reason: str
    subject: str
    message: str


@dataclass(frozen=True)
class PkiOutcome:
    pki: ClusterPki
    changes: tuple[PkiChange, ...]
    phase: CaPhase
    ready: bool
    message: str
    ca_not_after: datetime
    leaf_not_after: datetime | None
    next_rotation: datetime


def _leaf_problem(
    leaf: StoredLeaf, request: LeafRequest, trusted: Sequence[CertificateAuthority], now: datetime
) -> str | None:
    """Why ``leaf`` cannot be kept as it is (None: it can)."""
    try:
        certificate = x509.load_pem_x509_certificate(leaf.certificate_pem)
        key = serialization.load_pem_private_key(leaf.private_key_pem, password=None)
    except ValueError:
        return "the stored certificate or key does not parse"
    if certificate.public_key() != key.public_key():
        return "the stored key does not match the certificate"
    try:
        identity = identity_from_certificate(certificate)
    except IdentityError:
        return "the certificate carries no Hive identity"
    if identity != request.identity:
        return f"the certificate names {identity.uri}, not {request.identity.uri}"
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    if sorted(san.get_values_for_type(x509.DNSName)) != sorted(request.dns_names):
        return "its DNS names changed"
    if not any(_issued_by(certificate, ca) for ca in trusted):
        return "it was not issued by a trusted CA"
    if certificate.not_valid_after_utc <= now:
        return "it has expired"
    return None


def _issued_by(certificate: x509.Certificate, ca: CertificateAuthority) -> bool:
    try:
        certificate.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _dates(leaf: StoredLeaf) -> tuple[datetime, datetime]:
    certificate = x509.load_pem_x509_certificate(leaf.certificate_pem)
    return certificate.not_valid_before_utc, certificate.not_valid_after_utc


def _ca_renewal(ca: CertificateAuthority) -> datetime:
    certificate = ca.certificate
    return ca_renewal_time(
        not_before=certificate.not_valid_before_utc, not_after=certificate.not_valid_after_utc
    )


def reconcile_pki(
    current: ClusterPki | None,
    *,
    requests: Sequence[LeafRequest],
    policy: RotationPolicy,
    now: datetime,
    pods: Sequence[str],
    reports: Mapping[str, PodTrust],
    ca_common_name: str,
) -> PkiOutcome:
    """The next state of a cluster's certificates (see the module docstring for the CA steps).

    ``pods`` names the leaves whose holders must confirm each CA rotation step through
    ``reports`` (keyed by the same names).
    """
    changes: list[PkiChange] = []
    if current is None:
        ca = create_ca(common_name=ca_common_name, now=now, valid_for=policy.ca_duration)
        current = ClusterPki(ca=ca)
        changes.append(PkiChange("CACreated", "ca", "created the cluster CA"))
    ca, retiring = current.ca, current.retiring

    if retiring is None and now >= _ca_renewal(ca):
        retiring = ca
        ca = create_ca(common_name=ca_common_name, now=now, valid_for=policy.ca_duration)
        changes.append(PkiChange("CARotationStarted", "ca", "created a new CA; old and new are trusted"))
    if retiring is not None and retiring.certificate.not_valid_after_utc <= now:
        # An expired CA protects nothing and can sign nothing: no overlap is possible any more.
        retiring = None
        changes.append(
            PkiChange("CAExpired", "ca", "the old CA had expired; every leaf moves to the new CA at once")
        )
    bundle_pki = ClusterPki(ca=ca, retiring=retiring)
    waiting_trust = [
        pod for pod in pods if reports.get(pod, PodTrust()).bundle_fingerprint != bundle_pki.fingerprint
    ]
    # Until every pod trusts the new CA, leaves (new ones too) are signed by the old one.
    signer, trusted = ca, [ca]
    if retiring is not None and waiting_trust:
        signer, trusted = retiring, [ca, retiring]

    leaves: dict[str, StoredLeaf] = {}
    for request in requests:
        stored = current.leaves.get(request.name)
        if stored is None:
            problem: str | None = "none was stored"
            reason = "CertificateIssued"
        else:
            problem = _leaf_problem(stored, request, trusted, now)
            reason = "CertificateReissued"
            if problem is None:
                not_before, not_after = _dates(stored)
                due = renewal_time(
                    not_before=not_before, not_after=not_after, renew_before=policy.renew_before
                )
                if now >= due:
                    problem, reason = "its renewal time has come", "CertificateRotated"
            if problem == "it was not issued by a trusted CA" and retiring is not None:
                reason = "CertificateRotated"
        if problem is None and stored is not None:
            leaves[request.name] = stored
            continue
        issued = issue_certificate(
            signer, request.identity, now=now, valid_for=policy.leaf_duration, dns_names=request.dns_names
        )
        leaves[request.name] = StoredLeaf(issued.certificate_pem, issued.private_key_pem)
        changes.append(PkiChange(reason, request.name, f"certificate for {request.name} issued: {problem}"))

    phase = CaPhase.STABLE
    message = "every certificate is valid and in use"
    if retiring is not None:
        if waiting_trust:
            phase = CaPhase.DISTRIBUTING_TRUST
            message = f"CA rotation: waiting for {', '.join(sorted(waiting_trust))} to trust the new CA"
        else:
            waiting_leaf = [
                pod
                for pod in pods
                if reports.get(pod, PodTrust()).certificate_serial != _serial(leaves.get(pod))
            ]
            if waiting_leaf:
                phase = CaPhase.REISSUING
                names = ", ".join(sorted(waiting_leaf))
                message = f"CA rotation: waiting for {names} to load the reissued certificate"
            else:
                retiring = None
                changes.append(
                    PkiChange(
                        "CARotationCompleted", "ca", "every leaf is reissued; the old CA is no longer trusted"
                    )
                )
    result = ClusterPki(ca=ca, retiring=retiring, leaves=leaves)

    stale = [
        p
        for p in pods
        if p in reports
        and (
            reports[p].certificate_serial != result.serial(p)
            or reports[p].bundle_fingerprint != result.fingerprint
        )
    ]
    ready = phase is CaPhase.STABLE and not stale
    if phase is CaPhase.STABLE and stale:
        message = f"waiting for {', '.join(sorted(stale))} to load the current certificates"
    leaf_dates = [_dates(leaf) for leaf in leaves.values()]
    renewals = [
        renewal_time(not_before=nb, not_after=na, renew_before=policy.renew_before) for nb, na in leaf_dates
    ]
    renewals.append(_ca_renewal(ca))
    return PkiOutcome(
        pki=result,
        changes=tuple(changes),
        phase=phase,
        ready=ready,
        message=message,
        ca_not_after=ca.certificate.not_valid_after_utc,
        leaf_not_after=min((na for _, na in leaf_dates), default=None),
        next_rotation=min(renewals),
    )


def _serial(leaf: StoredLeaf | None) -> str | None:
    if leaf is None:
        return None
    return format(x509.load_pem_x509_certificate(leaf.certificate_pem).serial_number, "x")
