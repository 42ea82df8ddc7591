"""tls.mode certManager against the real cert-manager controller on the bed.

cert-manager (built from its Go module by ``make k8s``, run as a process with its own client
certificate) bootstraps a CA Issuer the standard way (SelfSigned ClusterIssuer -> isCA Certificate
-> CA Issuer), then issues the Certificates the operator's pure builder
(``hive_operator.specs.certmanager.certificates``) makes for a paused HiveCluster. Each Secret is
checked independently of the builder's own read-back: the leaf verifies against ``ca.crt`` and
carries exactly the expected URI SAN and DNS names; then the runtime's own TLS loading
(``TlsMaterial``) takes pod 0's, pod 1's and the operator's Secrets as mounted files and completes
mutual-TLS handshakes whose peers the runtime's access policy admits by their URI SAN.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hive_operator.api import HiveCluster, parse_manifest
from hive_operator.specs import OperatorContext
from hive_operator.specs.certmanager import (
    ExpectedCertificate,
    certificate_ready,
    certificates,
    expected_certificates,
    read_certificate_secret,
)
from hive_runtime.identity import Role
from hive_runtime.tlsfiles import TlsMaterial, write_tls_files
from hive_runtime.transport.access import AccessPolicy, peer_identity
from hive_testbed import certmanager
from hive_testbed.certmanager import CertManager
from hive_testbed.kubectl import Kubectl, wait_for

CONTEXT = OperatorContext()
LEASE_NAMESPACE = "kube-system"


def _hive_cluster(kubectl: Kubectl, namespace: str) -> HiveCluster:
    """A real, paused HiveCluster (no operator acts on it) so the Certificates' owner exists."""
    manifest = {
        "apiVersion": "hive.dev/v1alpha1",
        "kind": "HiveCluster",
        "metadata": {"name": "alpha", "namespace": namespace},
        "spec": {
            "version": "0.1.0",
            "replicas": 3,
            "paused": True,
            "tls": {"mode": "certManager", "issuerRef": {"name": "hive-ca"}},
        },
    }
    kubectl("apply", "--validate=strict", "-f", "-", stdin=yaml.safe_dump(manifest))
    return parse_manifest(kubectl.json("get", "hivecluster", "alpha", "-n", namespace), HiveCluster)


def _decoded(secret: dict[str, Any]) -> dict[str, bytes]:
    return {key: base64.b64decode(value) for key, value in secret["data"].items()}


def _check_leaf(files: dict[str, bytes], leaf: ExpectedCertificate) -> None:
    """Independent of the builder's read-back: the chain, the SANs, the subject, the key, the usages."""
    [certificate] = x509.load_pem_x509_certificates(files["tls.crt"])  # CA issuer, self-signed root
    [ca] = x509.load_pem_x509_certificates(files["ca.crt"])
    certificate.verify_directly_issued_by(ca)  # raises if ca.crt did not sign the leaf
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "hive-ca root"
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [leaf.identity.uri]
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(leaf.dns_names)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == leaf.identity.name
    assert certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == (
        leaf.identity.role.value
    )
    public = certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    assert b"BEGIN PRIVATE KEY" in files["tls.key"]  # PKCS#8, as the operator's own PKI writes
    usages = set(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    expected = {ExtendedKeyUsageOID.CLIENT_AUTH}
    if leaf.identity.role is Role.PEER:
        expected.add(ExtendedKeyUsageOID.SERVER_AUTH)
    assert usages == expected
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime.total_seconds() == pytest.approx(2160 * 3600, abs=120)


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> tuple[ssl.SSLSocket, ssl.SSLSocket]:
    """A mutual-TLS handshake over a socket pair, exchanging one message each way."""
    left, right = socket.socketpair()
    left.settimeout(10)
    right.settimeout(10)
    result: dict[str, Any] = {}

    def serve() -> None:
        try:
            tls = server.wrap_socket(left, server_side=True)
            assert tls.recv(4) == b"ping"
            tls.sendall(b"pong")
            result["server"] = tls
        except BaseException as error:  # reported by the caller
            result["error"] = error

    thread = threading.Thread(target=serve)
    thread.start()
    tls_client = client.wrap_socket(right, server_side=False)
    tls_client.sendall(b"ping")
    assert tls_client.recv(4) == b"pong"
    thread.join(10)
    if "error" in result:
        raise result["error"]
    return result["server"], tls_client


def test_cert_manager_issues_the_builders_certificates_and_the_runtime_accepts_them(
    cert_manager: CertManager, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    certmanager.bootstrap_ca_issuer(kubectl, namespace, issuer="hive-ca", manager=cert_manager)
    cluster = _hive_cluster(kubectl, namespace)
    objects = certificates(cluster, CONTEXT)
    leaves = expected_certificates(cluster, CONTEXT)
    assert [o["metadata"]["name"] for o in objects] == [leaf.name for leaf in leaves]
    # Server-side apply with strict field validation: the CRD's schema refuses any unknown field.
    kubectl(
        "apply",
        "--server-side",
        "--field-manager=hive-operator",
        "--validate=strict",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(objects),
    )
    files: dict[str, dict[str, bytes]] = {}
    fingerprints: dict[str, str | None] = {}
    for leaf in leaves:
        certificate = certmanager.wait_ready(
            kubectl, "certificate", leaf.name, namespace=namespace, manager=cert_manager
        )
        assert certificate_ready(certificate)[0]
        secret = kubectl.json("get", "secret", leaf.name, "-n", namespace)
        state = read_certificate_secret(secret, leaf, now=datetime.now(UTC))
        assert state.ready, state.message
        fingerprints[leaf.name] = state.ca_fingerprint
        assert secret["metadata"]["labels"]["hive.dev/cluster"] == "alpha"  # from secretTemplate
        files[leaf.name] = _decoded(secret)
        assert set(files[leaf.name]) == {"tls.crt", "tls.key", "ca.crt"}
        _check_leaf(files[leaf.name], leaf)

    # The runtime's own TLS loading of the Secrets as mounted files.
    material = {
        name: TlsMaterial(
            write_tls_files(
                tmp_path / name, ca_pem=data["ca.crt"], cert_pem=data["tls.crt"], key_pem=data["tls.key"]
            )
        )
        for name, data in files.items()
    }
    # what each runtime would report as its caBundleFingerprint is what the read-back computed
    assert {name: m.ca_fingerprint for name, m in material.items()} == fingerprints
    members = lambda: ("alpha-0", "alpha-1", "alpha-2")  # noqa: E731
    peer_port = AccessPolicy(namespace, "alpha", frozenset({Role.PEER}), names=members)
    # pod 1 dials pod 0's peer port: each side admits the other from its URI SAN alone
    server, client = _handshake(
        material["alpha-0-tls"].server_context, material["alpha-1-tls"].client_context
    )
    peer_port.check(peer_identity(server))
    assert peer_identity(server).name == "alpha-1"
    peer_port.for_member("alpha-0").check(peer_identity(client))
    # the operator's client certificate on pod 0's admin/client port
    client_port = AccessPolicy(namespace, "alpha", frozenset({Role.CLIENT, Role.OPERATOR}))
    server, client = _handshake(
        material["alpha-0-tls"].server_context, material["alpha-operator-tls"].client_context
    )
    client_port.check(peer_identity(server))
    assert peer_identity(server).role is Role.OPERATOR
    assert peer_identity(client).name == "alpha-0"

    # Leader election on: cert-manager holds its Lease in the namespace it was given.
    lease = kubectl.json("get", "lease", "cert-manager-controller", "-n", LEASE_NAMESPACE)
    assert lease["spec"].get("holderIdentity")


def test_a_new_issuance_rotates_the_private_key(
    cert_manager: CertManager, kubectl: Kubectl, namespace: str
) -> None:
    """rotationPolicy Always: every issuance has a new key. The renewal is triggered as ``cmctl renew``
    does it (an ``Issuing`` condition with reason ``ManuallyTriggered`` on the Certificate's status)."""
    certmanager.bootstrap_ca_issuer(kubectl, namespace, issuer="hive-ca", manager=cert_manager)
    cluster = _hive_cluster(kubectl, namespace)
    [operator] = [o for o in certificates(cluster, CONTEXT) if o["metadata"]["name"] == "alpha-operator-tls"]
    [leaf] = [e for e in expected_certificates(cluster, CONTEXT) if e.name == "alpha-operator-tls"]
    kubectl(
        "apply", "--server-side", "--field-manager=hive-operator", "-f", "-", stdin=yaml.safe_dump(operator)
    )
    certmanager.wait_ready(kubectl, "certificate", leaf.name, namespace=namespace, manager=cert_manager)
    before = _decoded(kubectl.json("get", "secret", leaf.name, "-n", namespace))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    issuing = {"type": "Issuing", "status": "True", "reason": "ManuallyTriggered", "lastTransitionTime": now}
    issuing["message"] = "renewal requested by the test"
    patch = [{"op": "add", "path": "/status/conditions/-", "value": issuing}]
    kubectl(
        "patch",
        "certificate",
        leaf.name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=json",
        "-p",
        json.dumps(patch),
    )

    def reissued() -> dict[str, bytes] | None:
        cert_manager.check_alive()
        data = _decoded(kubectl.json("get", "secret", leaf.name, "-n", namespace))
        return data if data["tls.crt"] != before["tls.crt"] else None

    after = wait_for(reissued, seconds=30, what="a new certificate in alpha-operator-tls")
    assert after is not None
    assert after["tls.key"] != before["tls.key"]
    assert read_certificate_secret(
        {"data": {k: base64.b64encode(v).decode() for k, v in after.items()}}, leaf
    ).ready


def test_cert_manager_has_its_own_build_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Changing testbed/certmanager rebuilds cert-manager only, never Kubernetes (and the reverse)."""
    from hive_testbed import k8sbuild

    modules = tmp_path / "testbed"
    for module in ("k8s", "etcd", "lazyfs", "certmanager"):
        source = k8sbuild.MODULES / module
        (modules / module).mkdir(parents=True)
        for path in source.iterdir():
            if path.is_file():
                (modules / module / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(k8sbuild, "MODULES", modules)
    before = (
        k8sbuild.inputs_digest(),
        k8sbuild.lazyfs_inputs_digest(),
        k8sbuild.cert_manager_inputs_digest(),
    )
    with (modules / "certmanager" / "main.go").open("a") as main:
        main.write("\n// changed\n")
    after = (k8sbuild.inputs_digest(), k8sbuild.lazyfs_inputs_digest(), k8sbuild.cert_manager_inputs_digest())
    assert after[:2] == before[:2] and after[2] != before[2]
    with (modules / "etcd" / "main.go").open("a") as main:
        main.write("\n// changed\n")
    assert k8sbuild.inputs_digest() != before[0]
    assert k8sbuild.cert_manager_inputs_digest() == after[2]
