"""Where certificates, keys and user Secrets live: the Secrets the operator writes, read back too.

Layout (every value a file in the pod, never an environment variable):

- ``<cluster>-ca``: ``ca.crt``/``ca.key`` (signing CA) and, during a CA rotation,
  ``retiring-ca.crt``/``retiring-ca.key``. Never mounted into a pod.
- ``<pod>-tls`` (one per pod): ``ca.crt`` (the trust bundle), ``tls.crt``, ``tls.key``: that pod's
  peer/server certificate, mounted at ``/var/run/hive/tls`` in that pod and no other, so a
  compromised replica holds its own key only (the reason pods are managed directly, see
  docs/architecture.md). The key names are cert-manager's, so both TLS modes look alike to pods.
- ``<cluster>-operator-tls``: ``ca.crt``, ``tls.crt``, ``tls.key``: the operator's client
  certificate (role ``operator``) for the admin API; not mounted into runtime pods.
- ``<pod>-audit`` (one per pod): ``audit.key`` (Ed25519, signs the pod's audit checkpoints) and
  ``audit.pub``, mounted in that pod only.

Reading back is the inverse, so a reconcile that changes nothing writes nothing.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hive_operator.api import HiveCluster
from hive_operator.pki import (
    CertificateAuthority,
    ClusterPki,
    Identity,
    LeafRequest,
    Role,
    StoredLeaf,
    audit_public_key,
)
from hive_operator.specs.meta import OperatorContext, metadata, names_of

OPERATOR_LEAF = "operator"


def encode(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def decode(secret: Mapping[str, Any] | None, key: str) -> bytes | None:
    """The bytes of ``key`` in a Secret as read from the API (base64 ``data``), or None."""
    if secret is None:
        return None
    text = (secret.get("data") or {}).get(key)
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _secret(cluster: HiveCluster, name: str, component: str, data: Mapping[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(cluster, name, component),
        "type": "Opaque",
        "data": {key: encode(value) for key, value in sorted(data.items())},
    }


def leaf_requests(cluster: HiveCluster, context: OperatorContext, *, pods: int) -> list[LeafRequest]:
    """Every leaf the cluster needs: one per pod (role peer) and the operator's (role operator)."""
    names = names_of(cluster)
    requests = [
        LeafRequest(
            name=names.pod(ordinal),
            identity=Identity(
                namespace=names.namespace, cluster=names.cluster, role=Role.PEER, name=names.pod(ordinal)
            ),
            dns_names=names.pod_dns_names(ordinal, cluster_domain=context.cluster_domain),
        )
        for ordinal in range(pods)
    ]
    requests.append(
        LeafRequest(
            name=OPERATOR_LEAF,
            identity=Identity(
                namespace=names.namespace,
                cluster=names.cluster,
                role=Role.OPERATOR,
                name=context.identity_name,
            ),
        )
    )
    return requests


def pki_secrets(cluster: HiveCluster, pki: ClusterPki, *, pods: int) -> list[dict[str, Any]]:
    """The CA Secret, one TLS Secret per pod ordinal below ``pods`` that has a leaf, and the
    operator's; each holds the current trust bundle as ``ca.crt``."""
    names = names_of(cluster)
    ca_data = {"ca.crt": pki.ca.certificate_pem, "ca.key": pki.ca.private_key_pem}
    if pki.retiring is not None:
        ca_data |= {
            "retiring-ca.crt": pki.retiring.certificate_pem,
            "retiring-ca.key": pki.retiring.private_key_pem,
        }
    bundle = pki.trust_bundle()
    secrets = [_secret(cluster, names.ca_secret, "ca", ca_data)]
    for ordinal in range(pods):
        leaf = pki.leaves.get(names.pod(ordinal))
        if leaf is not None:
            data = {"ca.crt": bundle, "tls.crt": leaf.certificate_pem, "tls.key": leaf.private_key_pem}
            secrets.append(_secret(cluster, names.pod_tls_secret(ordinal), "peer-tls", data))
    operator = pki.leaves.get(OPERATOR_LEAF)
    if operator is not None:
        operator_data = {
            "ca.crt": bundle,
            "tls.crt": operator.certificate_pem,
            "tls.key": operator.private_key_pem,
        }
        secrets.append(_secret(cluster, names.operator_tls_secret, "operator-tls", operator_data))
    return secrets


def _stored_leaf(secret: Mapping[str, Any] | None) -> StoredLeaf | None:
    certificate, private = decode(secret, "tls.crt"), decode(secret, "tls.key")
    if certificate is None or private is None:
        return None
    return StoredLeaf(certificate, private)


def _ca(secret: Mapping[str, Any] | None, prefix: str) -> CertificateAuthority | None:
    certificate, key = decode(secret, f"{prefix}.crt"), decode(secret, f"{prefix}.key")
    if certificate is None or key is None:
        return None
    try:
        return CertificateAuthority.from_pem(certificate_pem=certificate, private_key_pem=key)
    except ValueError:
        return None


def _pod_secrets(
    cluster: HiveCluster, secrets: Mapping[str, Mapping[str, Any]], suffix: str
) -> dict[str, Any]:
    """The observed per-pod Secrets ``<pod><suffix>`` by pod name, for every ordinal found."""
    names = names_of(cluster)
    found: dict[str, Any] = {}
    for name, secret in secrets.items():
        pod = name.removesuffix(suffix)
        if pod != name and names.ordinal_of(pod) is not None:
            found[pod] = secret
    return found


def read_pki(cluster: HiveCluster, secrets: Mapping[str, Mapping[str, Any]]) -> ClusterPki | None:
    """The PKI stored in the observed Secrets (by name); None when there is no usable CA."""
    names = names_of(cluster)
    ca = _ca(secrets.get(names.ca_secret), "ca")
    if ca is None:
        return None
    retiring = _ca(secrets.get(names.ca_secret), "retiring-ca")
    leaves: dict[str, StoredLeaf] = {}
    for pod, secret in sorted(_pod_secrets(cluster, secrets, "-tls").items()):
        leaf = _stored_leaf(secret)
        if leaf is not None:
            leaves[pod] = leaf
    operator = _stored_leaf(secrets.get(names.operator_tls_secret))
    if operator is not None:
        leaves[OPERATOR_LEAF] = operator
    return ClusterPki(ca=ca, retiring=retiring, leaves=leaves)


def audit_secrets(cluster: HiveCluster, keys: Mapping[str, bytes], *, pods: int) -> list[dict[str, Any]]:
    """One Secret per pod ordinal below ``pods`` with its signing key and public key."""
    names = names_of(cluster)
    secrets = []
    for ordinal in range(pods):
        private = keys.get(names.pod(ordinal))
        if private is not None:
            data = {"audit.key": private, "audit.pub": audit_public_key(private)}
            secrets.append(_secret(cluster, names.pod_audit_secret(ordinal), "audit", data))
    return secrets


def read_audit_keys(cluster: HiveCluster, secrets: Mapping[str, Mapping[str, Any]]) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for pod, secret in _pod_secrets(cluster, secrets, "-audit").items():
        value = decode(secret, "audit.key")
        if value is not None:
            keys[pod] = value
    return keys


@dataclass(frozen=True)
class SecretReference:
    """A user Secret the spec refers to, with the keys that must exist (none: the Secret alone)."""

    name: str
    keys: tuple[str, ...]
    field: str  # the spec field that names it, for the condition message


def referenced_secrets(cluster: HiveCluster) -> list[SecretReference]:
    spec = cluster.spec
    references = [
        SecretReference(
            name=mount.name,
            keys=tuple(item.key for item in mount.items),
            field=f"spec.secrets[{index}]",
        )
        for index, mount in enumerate(spec.secrets)
    ]
    if spec.backup is not None:
        key = spec.backup.encryption_key_secret
        references.append(SecretReference(key.name, (key.key,), "spec.backup.encryptionKeySecret"))
        s3 = spec.backup.destination.s3
        if s3 is not None and s3.credentials_secret is not None:
            references.append(
                SecretReference(
                    s3.credentials_secret.name,
                    ("accessKeyId", "secretAccessKey"),
                    "spec.backup.destination.s3.credentialsSecret",
                )
            )
    if spec.bootstrap is not None and spec.bootstrap.from_backup is not None:
        key = spec.bootstrap.from_backup.encryption_key_secret
        references.append(
            SecretReference(key.name, (key.key,), "spec.bootstrap.fromBackup.encryptionKeySecret")
        )
    for index, name in enumerate(spec.image.pull_secrets):
        references.append(SecretReference(name, (), f"spec.image.pullSecrets[{index}]"))
    return references
