"""The cert-manager Certificates of a certManager-mode HiveCluster, and the read-back of the Secrets
cert-manager writes for them (the bed test, tests/testbed/test_certmanager.py, has a real
cert-manager issue them)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from datetime import timedelta
from typing import Any

import pytest

from hive_operator.api import HiveCluster
from hive_operator.pki.authority import CertificateAuthority, create_ca, issue_certificate
from hive_operator.specs import CLUSTER_LABEL, OperatorContext, names_of
from hive_operator.specs.certmanager import (
    ExpectedCertificate,
    certificate_ready,
    certificates,
    expected_certificates,
    go_duration,
    read_certificate_secret,
    secret_names,
)
from hive_runtime.identity import Identity, Role
from tests.operator.conftest import CONTEXT, NOW, cluster_manifest, parse

UID = "0f7d7a43-1a7e-4c1e-9d57-3d3b0d9c1a11"


def _cluster(**tls: Any) -> HiveCluster:
    spec_tls = {"mode": "certManager", "issuerRef": {"name": "hive-ca"}, **tls}
    return parse(cluster_manifest(replicas=3, tls=spec_tls))


def _by_name(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects}


def test_one_certificate_per_pod_ordinal_and_one_for_the_operator() -> None:
    objects = certificates(_cluster(), CONTEXT)
    assert [o["metadata"]["name"] for o in objects] == [
        "alpha-0-tls",
        "alpha-1-tls",
        "alpha-2-tls",
        "alpha-operator-tls",
    ]
    for obj in objects:
        assert obj["apiVersion"] == "cert-manager.io/v1"
        assert obj["kind"] == "Certificate"
        assert obj["spec"]["secretName"] == obj["metadata"]["name"]
        assert obj["metadata"]["namespace"] == "prod"
        [owner] = obj["metadata"]["ownerReferences"]
        assert owner["kind"] == "HiveCluster" and owner["uid"] == UID and owner["controller"] is True
        assert obj["metadata"]["labels"][CLUSTER_LABEL] == "alpha"
        # the Secret cert-manager writes carries the same labels, so the operator can list it by cluster
        assert obj["spec"]["secretTemplate"]["labels"] == obj["metadata"]["labels"]
    assert secret_names(_cluster(), CONTEXT) == [o["spec"]["secretName"] for o in objects]


def test_pods_overrides_the_replica_count() -> None:
    names = [o["metadata"]["name"] for o in certificates(_cluster(), CONTEXT, pods=5)]
    assert names == [f"alpha-{k}-tls" for k in range(5)] + ["alpha-operator-tls"]


def test_each_pod_certificate_carries_exactly_its_identity_uri_and_dns_names() -> None:
    context = dataclasses.replace(CONTEXT, cluster_domain="corp.example")
    cluster = _cluster()
    objects = _by_name(certificates(cluster, context))
    names = names_of(cluster)
    for ordinal in range(3):
        spec = objects[f"alpha-{ordinal}-tls"]["spec"]
        assert spec["uris"] == [f"spiffe://hive/prod/alpha/peer/alpha-{ordinal}"]
        assert spec["uris"] == [Identity("prod", "alpha", Role.PEER, f"alpha-{ordinal}").uri]
        assert spec["dnsNames"] == list(names.pod_dns_names(ordinal, cluster_domain="corp.example"))
        assert f"alpha-{ordinal}.alpha-peers.prod.svc.corp.example" in spec["dnsNames"]
        assert spec["commonName"] == f"alpha-{ordinal}"
        assert spec["subject"] == {"organizations": ["hive"], "organizationalUnits": ["peer"]}
        assert spec["usages"] == ["digital signature", "server auth", "client auth"]


def test_the_operator_certificate_is_a_client_certificate_without_dns_names() -> None:
    context = OperatorContext(identity_name="hive-operator-b")
    spec = _by_name(certificates(_cluster(), context))["alpha-operator-tls"]["spec"]
    assert spec["uris"] == ["spiffe://hive/prod/alpha/operator/hive-operator-b"]
    assert "dnsNames" not in spec
    assert spec["commonName"] == "hive-operator-b"
    assert spec["subject"]["organizationalUnits"] == ["operator"]
    assert spec["usages"] == ["digital signature", "client auth"]


def test_key_matches_the_operators_own_pki_and_rotates_on_every_issuance() -> None:
    for obj in certificates(_cluster(), CONTEXT):
        assert obj["spec"]["privateKey"] == {
            "algorithm": "ECDSA",
            "size": 256,
            "encoding": "PKCS8",
            "rotationPolicy": "Always",
        }
        assert obj["spec"]["isCA"] is False


@pytest.mark.parametrize(
    ("kind", "group"), [("Issuer", "cert-manager.io"), ("ClusterIssuer", "cert-manager.io")]
)
def test_issuer_ref_is_copied_from_the_spec(kind: str, group: str) -> None:
    cluster = _cluster(issuerRef={"name": "corp-ca", "kind": kind, "group": group})
    for obj in certificates(cluster, CONTEXT):
        assert obj["spec"]["issuerRef"] == {"name": "corp-ca", "kind": kind, "group": group}


def test_issuer_ref_defaults_to_a_namespaced_issuer() -> None:
    [first, *_] = certificates(_cluster(), CONTEXT)
    assert first["spec"]["issuerRef"] == {"name": "hive-ca", "kind": "Issuer", "group": "cert-manager.io"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2160h", "2160h"),
        ("720h", "720h"),
        ("90m", "1h30m"),
        ("1.5h", "1h30m"),
        ("3600s", "1h"),
        ("1h0m5s", "1h5s"),
    ],
)
def test_go_durations_are_canonical(text: str, expected: str) -> None:
    assert go_duration(text) == expected
    assert go_duration(timedelta(hours=2160)) == "2160h"


def test_go_duration_refuses_sub_second_precision() -> None:
    with pytest.raises(ValueError, match="whole number of seconds"):
        go_duration("1500ms")


def test_durations_come_from_spec_tls() -> None:
    spec = certificates(_cluster(duration="48h", renewBefore="90m"), CONTEXT)[0]["spec"]
    assert (spec["duration"], spec["renewBefore"]) == ("48h", "1h30m")
    default = certificates(_cluster(), CONTEXT)[0]["spec"]
    assert (default["duration"], default["renewBefore"]) == ("2160h", "720h")


def test_durations_cert_manager_would_refuse_are_refused() -> None:
    with pytest.raises(ValueError, match="minimum of 1h"):
        certificates(_cluster(duration="30m", renewBefore="10m"), CONTEXT)
    with pytest.raises(ValueError, match="at least 5m"):
        certificates(_cluster(duration="2h", renewBefore="1m"), CONTEXT)


def test_operator_mode_has_no_certificates() -> None:
    with pytest.raises(ValueError, match="not 'certManager'"):
        certificates(parse(cluster_manifest()), CONTEXT)


def test_same_inputs_same_objects() -> None:
    assert certificates(_cluster(), CONTEXT) == certificates(_cluster(), CONTEXT)


# --- read-back of the Secrets cert-manager writes ---


def _ca(name: str = "test CA") -> CertificateAuthority:
    return create_ca(common_name=name, now=NOW, valid_for=timedelta(days=365))


def _secret(
    ca: CertificateAuthority,
    leaf: ExpectedCertificate,
    *,
    identity: Identity | None = None,
    dns_names: tuple[str, ...] | None = None,
    trust: CertificateAuthority | None = None,
    drop: str | None = None,
    other_key: bool = False,
) -> dict[str, Any]:
    issued = issue_certificate(
        ca,
        identity or leaf.identity,
        now=NOW,
        valid_for=timedelta(days=90),
        dns_names=leaf.dns_names if dns_names is None else dns_names,
    )
    key_pem = issued.private_key_pem
    if other_key:
        key_pem = issue_certificate(ca, leaf.identity, now=NOW, valid_for=timedelta(days=1)).private_key_pem
    data = {
        "tls.crt": issued.certificate_pem,
        "tls.key": key_pem,
        "ca.crt": (trust or ca).certificate_pem,
    }
    encoded = {k: base64.b64encode(v).decode() for k, v in data.items() if k != drop}
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "data": encoded}


@pytest.fixture
def leaves() -> list[ExpectedCertificate]:
    return expected_certificates(_cluster(), CONTEXT)


def test_a_well_formed_secret_is_ready(leaves: list[ExpectedCertificate]) -> None:
    ca = _ca()
    for leaf in leaves:
        state = read_certificate_secret(_secret(ca, leaf), leaf, now=NOW + timedelta(days=1))
        assert state.ready, state.message
        assert state.serial_hex and state.not_after is not None
        assert state.ca_fingerprint == hashlib.sha256(ca.certificate_pem).hexdigest()
        # an Identity alone checks the URI SAN but not the DNS names
        assert read_certificate_secret(_secret(ca, leaf, dns_names=()), leaf.identity).ready


def test_unusable_secrets_are_not_ready_and_say_why(leaves: list[ExpectedCertificate]) -> None:
    ca, pod0, pod1 = _ca(), leaves[0], leaves[1]
    cases = {
        "does not exist": None,
        "has no ca.crt": _secret(ca, pod0, drop="ca.crt"),
        "has no tls.key": _secret(ca, pod0, drop="tls.key"),
        "not spiffe://hive/prod/alpha/peer/alpha-0": _secret(ca, pod0, identity=pod1.identity),
        "DNS names": _secret(ca, pod0, dns_names=pod1.dns_names),
        "does not belong to tls.crt": _secret(ca, pod0, other_key=True),
        "does not chain": _secret(ca, pod0, trust=_ca("another CA")),
    }
    for reason, secret in cases.items():
        state = read_certificate_secret(secret, pod0)
        assert not state.ready
        assert reason in state.message, (reason, state.message)
    expired = read_certificate_secret(_secret(ca, pod0), pod0, now=NOW + timedelta(days=91))
    assert not expired.ready and "not valid now" in expired.message


def test_a_leaf_without_the_uri_san_is_refused(leaves: list[ExpectedCertificate]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ca = _ca()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "alpha-0")])
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("alpha-0")]), critical=False)
        .sign(ca.private_key, hashes.SHA256())
    )
    secret = {
        "data": {
            "tls.crt": base64.b64encode(leaf.public_bytes(serialization.Encoding.PEM)).decode(),
            "tls.key": base64.b64encode(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            ).decode(),
            "ca.crt": base64.b64encode(ca.certificate_pem).decode(),
        }
    }
    state = read_certificate_secret(secret, leaves[0])
    assert not state.ready and "no Hive identity" in state.message


def test_certificate_ready_reads_the_ready_condition_for_the_current_generation() -> None:
    assert certificate_ready(None) == (False, "the Certificate does not exist yet")
    assert not certificate_ready({"metadata": {"generation": 1}})[0]
    ready = {
        "metadata": {"generation": 2},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 2, "message": "ok"}]
        },
    }
    assert certificate_ready(ready) == (True, "ok")
    stale = {**ready, "metadata": {"generation": 3}}
    assert certificate_ready(stale)[0] is False
    issuing = {
        "metadata": {"generation": 1},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "DoesNotExist"}]},
    }
    assert certificate_ready(issuing) == (False, "DoesNotExist")
