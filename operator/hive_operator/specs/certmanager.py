"""cert-manager ``Certificate`` objects for a HiveCluster in ``tls.mode: certManager``, and the
read-back of the Secrets cert-manager writes for them.

In this mode the operator runs no CA: it asks cert-manager's issuer (``spec.tls.issuerRef``) for the
same leaves its own PKI would issue (:mod:`hive_operator.pki.authority`): one per runtime pod
ordinal, ``<cluster>-<k>-tls`` (role ``peer``, the pod's DNS names), and the operator's client leaf,
``<cluster>-operator-tls`` (role ``operator``, no DNS names). Each carries the Hive identity as its
only URI SAN (the runtime authorises from that alone), O ``hive``, OU the role and CN the member
name, an ECDSA P-256 key in PKCS#8 that is replaced on every issuance, and the Secret names the
pods already mount. cert-manager writes ``tls.crt``, ``tls.key`` and ``ca.crt`` (the issuing CA,
which the pods use as their trust bundle).

Pure: no API calls, no clock (callers pass ``now``), no I/O.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hive_operator.api import HiveCluster
from hive_operator.api.security import TlsMode
from hive_operator.api.types import parse_duration
from hive_operator.specs.meta import OperatorContext, labels, metadata, names_of
from hive_runtime.identity import Identity, IdentityError, Role, identity_from_certificate

API_VERSION = "cert-manager.io/v1"
KIND = "Certificate"
SECRET_KEYS = ("tls.crt", "tls.key", "ca.crt")
ORGANIZATION = "hive"
PEER_COMPONENT = "peer-tls"
OPERATOR_COMPONENT = "operator-tls"
# cert-manager refuses a duration under an hour and a renewBefore under five minutes.
MIN_DURATION = timedelta(hours=1)
MIN_RENEW_BEFORE = timedelta(minutes=5)
REVISION_HISTORY_LIMIT = 2


@dataclasses.dataclass(frozen=True)
class ExpectedCertificate:
    """One leaf the cluster needs from cert-manager: the Certificate (and Secret) name and contents."""

    name: str  # the Certificate's name and its secretName
    identity: Identity
    dns_names: tuple[str, ...]
    component: str
    usages: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class SecretState:
    """What a Secret written by cert-manager holds, judged for use by a Hive pod or the operator."""

    ready: bool
    message: str
    serial_hex: str | None = None
    not_after: datetime | None = None
    # SHA-256 of ca.crt as stored: what a pod that loaded this Secret reports as caBundleFingerprint
    ca_fingerprint: str | None = None


def go_duration(value: str | timedelta) -> str:
    """A Go duration (``2160h``, ``1h30m``, ``90s``) in canonical whole-second form for cert-manager."""
    delta = parse_duration(value) if isinstance(value, str) else value
    if delta < timedelta(0) or delta.microseconds:
        raise ValueError(f"{value!r} is not a whole number of seconds")
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n)
    return text or "0s"


def expected_certificates(
    cluster: HiveCluster, context: OperatorContext, *, pods: int | None = None
) -> list[ExpectedCertificate]:
    """The leaves of ``cluster``: pod ordinals ``0..pods-1`` (default ``spec.replicas``), then the
    operator's."""
    names = names_of(cluster)
    count = cluster.spec.replicas if pods is None else pods
    leaves = [
        ExpectedCertificate(
            name=f"{names.pod(ordinal)}-tls",  # the pod's own TLS Secret, as the pod mounts it
            identity=Identity(names.namespace, names.cluster, Role.PEER, names.pod(ordinal)),
            dns_names=names.pod_dns_names(ordinal, cluster_domain=context.cluster_domain),
            component=PEER_COMPONENT,
            usages=("digital signature", "server auth", "client auth"),
        )
        for ordinal in range(count)
    ]
    leaves.append(
        ExpectedCertificate(
            name=names.operator_tls_secret,
            identity=Identity(names.namespace, names.cluster, Role.OPERATOR, context.identity_name),
            dns_names=(),
            component=OPERATOR_COMPONENT,
            usages=("digital signature", "client auth"),
        )
    )
    return leaves


def certificates(
    cluster: HiveCluster, context: OperatorContext, *, pods: int | None = None
) -> list[dict[str, Any]]:
    """The ``cert-manager.io/v1`` Certificates of a certManager-mode cluster (``ValueError`` for a
    cluster in operator mode or without an issuer)."""
    tls = cluster.spec.tls
    if tls.mode is not TlsMode.CERT_MANAGER:
        raise ValueError(f"spec.tls.mode is {tls.mode.value!r}, not 'certManager'")
    if tls.issuer_ref is None:
        raise ValueError("spec.tls.issuerRef is required with tls.mode certManager")
    duration, renew_before = parse_duration(tls.duration), parse_duration(tls.renew_before)
    if duration < MIN_DURATION:
        raise ValueError(f"spec.tls.duration {tls.duration} is under cert-manager's minimum of 1h")
    if renew_before < MIN_RENEW_BEFORE or renew_before >= duration:
        raise ValueError(
            f"spec.tls.renewBefore {tls.renew_before} must be at least 5m and shorter than duration"
        )
    issuer = {"name": tls.issuer_ref.name, "kind": tls.issuer_ref.kind.value, "group": tls.issuer_ref.group}
    return [
        _certificate(cluster, leaf, issuer=issuer, duration=duration, renew_before=renew_before)
        for leaf in expected_certificates(cluster, context, pods=pods)
    ]


def _certificate(
    cluster: HiveCluster,
    leaf: ExpectedCertificate,
    *,
    issuer: dict[str, str],
    duration: timedelta,
    renew_before: timedelta,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "secretName": leaf.name,
        "secretTemplate": {"labels": labels(cluster, leaf.component)},
        "commonName": leaf.identity.name,
        "subject": {"organizations": [ORGANIZATION], "organizationalUnits": [leaf.identity.role.value]},
        "uris": [leaf.identity.uri],
        "duration": go_duration(duration),
        "renewBefore": go_duration(renew_before),
        "issuerRef": dict(issuer),
        "isCA": False,
        "usages": list(leaf.usages),
        "privateKey": {"algorithm": "ECDSA", "size": 256, "encoding": "PKCS8", "rotationPolicy": "Always"},
        "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
    }
    if leaf.dns_names:
        spec["dnsNames"] = list(leaf.dns_names)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata(cluster, leaf.name, leaf.component),
        "spec": spec,
    }


def certificate_ready(certificate: Mapping[str, Any] | None) -> tuple[bool, str]:
    """Whether cert-manager reports a Certificate Ready for its current generation, and why not."""
    if certificate is None:
        return False, "the Certificate does not exist yet"
    generation = (certificate.get("metadata") or {}).get("generation")
    for condition in (certificate.get("status") or {}).get("conditions") or []:
        if condition.get("type") != "Ready":
            continue
        observed = condition.get("observedGeneration")
        if generation is not None and observed is not None and observed < generation:
            return False, "cert-manager has not yet observed the Certificate's latest spec"
        message = str(condition.get("message") or condition.get("reason") or "")
        return condition.get("status") == "True", message
    return False, "cert-manager has not reported on the Certificate yet"


def read_certificate_secret(
    secret: Mapping[str, Any] | None,
    expected: ExpectedCertificate | Identity,
    *,
    now: datetime | None = None,
) -> SecretState:
    """Whether ``secret`` holds a usable ``tls.crt``/``tls.key``/``ca.crt`` for ``expected``.

    Usable means: all three keys present and parseable; the leaf carries exactly the expected Hive
    URI SAN (and, for an :class:`ExpectedCertificate`, exactly its DNS names); the key is the leaf's;
    the leaf (with any intermediates in ``tls.crt``) chains to a certificate of ``ca.crt``; and,
    when ``now`` is given, the leaf is within its validity period.
    """
    identity = expected.identity if isinstance(expected, ExpectedCertificate) else expected
    if secret is None:
        return SecretState(False, "the Secret does not exist yet")
    data: dict[str, bytes] = {}
    for name in SECRET_KEYS:
        value = _decode(secret, name)
        if not value:
            return SecretState(False, f"the Secret has no {name}")
        data[name] = value
    try:
        chain = x509.load_pem_x509_certificates(data["tls.crt"])
        roots = x509.load_pem_x509_certificates(data["ca.crt"])
        key = serialization.load_pem_private_key(data["tls.key"], password=None)
    except ValueError as error:
        return SecretState(False, f"the Secret does not parse: {error}")
    leaf = chain[0]
    fingerprint = hashlib.sha256(data["ca.crt"]).hexdigest()
    state = SecretState(False, "", format(leaf.serial_number, "x"), leaf.not_valid_after_utc, fingerprint)
    try:
        found = identity_from_certificate(leaf)
    except IdentityError as error:
        return _with(state, f"tls.crt has no Hive identity: {error}")
    if found != identity:
        return _with(state, f"tls.crt names {found.uri}, not {identity.uri}")
    if isinstance(expected, ExpectedCertificate):
        dns = sorted(_san(leaf).get_values_for_type(x509.DNSName)) if _has_san(leaf) else []
        if dns != sorted(expected.dns_names):
            return _with(state, f"tls.crt has DNS names {dns}, not {sorted(expected.dns_names)}")
    public = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(public, ec.EllipticCurvePublicKey):
        return _with(state, "tls.key is not an EC private key for an EC certificate")
    if key.public_key().public_numbers() != public.public_numbers():
        return _with(state, "tls.key does not belong to tls.crt")
    if not _chains_to(chain, roots):
        return _with(state, "tls.crt does not chain to a certificate in ca.crt")
    if now is not None and not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        return _with(
            state, f"tls.crt is not valid now (valid {leaf.not_valid_before_utc} to {state.not_after})"
        )
    return dataclasses.replace(state, ready=True)


def _with(state: SecretState, message: str) -> SecretState:
    return dataclasses.replace(state, ready=False, message=message)


def _decode(secret: Mapping[str, Any], key: str) -> bytes | None:
    text = (secret.get("data") or {}).get(key)
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _has_san(certificate: x509.Certificate) -> bool:
    try:
        _san(certificate)
    except x509.ExtensionNotFound:
        return False
    return True


def _san(certificate: x509.Certificate) -> x509.SubjectAlternativeName:
    return certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _chains_to(chain: list[x509.Certificate], roots: list[x509.Certificate]) -> bool:
    """``chain[0]`` is signed, through ``chain[1:]`` in order, by one of ``roots``."""
    for index, certificate in enumerate(chain):
        if any(_issued_by(certificate, root) for root in roots):
            return True
        if index + 1 < len(chain) and not _issued_by(certificate, chain[index + 1]):
            return False
    return False


def secret_names(cluster: HiveCluster, context: OperatorContext, *, pods: int | None = None) -> list[str]:
    """The Secrets cert-manager writes for ``cluster`` (the planner waits for these)."""
    return [leaf.name for leaf in expected_certificates(cluster, context, pods=pods)]


__all__ = [
    "API_VERSION",
    "KIND",
    "SECRET_KEYS",
    "ExpectedCertificate",
    "SecretState",
    "certificate_ready",
    "certificates",
    "expected_certificates",
    "go_duration",
    "read_certificate_secret",
    "secret_names",
]
