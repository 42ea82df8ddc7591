"""Where certificates, keys and user Secrets live: the Secrets the operator writes, read back too.

Layout (every value a file in the pod, never an environment variable):

- ``<cluster>-ca``: ``ca.crt``/``ca.key`` (signing CA) and, during a CA rotation,
  ``retiring-ca.crt``/``retiring-ca.key``. Never mounted into a pod.
- ``<cluster>-peer-tls``: ``ca.crt`` (the trust bundle) and ``<pod>.crt``/``<pod>.key`` per pod,
  mounted at ``/var/run/hive/tls``. One Secret for all pods because a StatefulSet's pods share one
  template (see docs/architecture.md for what that costs and why it is accepted).
- ``<cluster>-operator-tls``: ``ca.crt``, ``tls.crt``, ``tls.key``: the operator's client
  certificate (role ``operator``) for the admin API; not mounted into runtime pods.
- ``<cluster>-audit``: ``<pod>.key`` (Ed25519, signs audit checkpoints) and ``<pod>.pub``.

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


def pki_secrets(cluster: HiveCluster, pki: ClusterPki) -> list[dict[str, Any]]:
    names = names_of(cluster)
    ca_data = {"ca.crt": pki.ca.certificate_pem, "ca.key": pki.ca.private_key_pem}
    if pki.retiring is not None:
        ca_data |= {
            "retiring-ca.crt": pki.retiring.certificate_pem,
            "retiring-ca.key": pki.retiring.private_key_pem,
        }
    bundle = pki.trust_bundle()
    peer_data = {"ca.crt": bundle}
    for name, leaf in pki.leaves.items():
        if name != OPERATOR_LEAF:
            peer_data[f"{name}.crt"] = leaf.certificate_pem
            peer_data[f"{name}.key"] = leaf.private_key_pem
    secrets = [
        _secret(cluster, names.ca_secret, "ca", ca_data),
        _secret(cluster, names.peer_tls_secret, "peer-tls", peer_data),
    ]
    operator = pki.leaves.get(OPERATOR_LEAF)
    if operator is not None:
        operator_data = {
            "ca.crt": bundle,
            "tls.crt": operator.certificate_pem,
            "tls.key": operator.private_key_pem,
        }
        secrets.append(_secret(cluster, names.operator_tls_secret, "operator-tls", operator_data))
    return secrets


def _ca(secret: Mapping[str, Any] | None, prefix: str) -> CertificateAuthority | None:
    certificate, key = decode(secret, f"{prefix}.crt"), decode(secret, f"{prefix}.key")
    if certificate is None or key is None:
        return None
    try:
        return CertificateAuthority.from_pem(certificate_pem=certificate, private_key_pem=key)
    except ValueError:
        return None


def read_pki(cluster: HiveCluster, secrets: Mapping[str, Mapping[str, Any]]) -> ClusterPki | None:
    """The PKI stored in the observed Secrets (by name); None when there is no usable CA."""
    names = names_of(cluster)
    ca = _ca(secrets.get(names.ca_secret), "ca")
    if ca is None:
        return None
    retiring = _ca(secrets.get(names.ca_secret), "retiring-ca")
    leaves: dict[str, StoredLeaf] = {}
    peer = secrets.get(names.peer_tls_secret)
    for key in sorted((peer or {}).get("data") or {}):
        if key.endswith(".crt") and key != "ca.crt":
            name = key.removesuffix(".crt")
            certificate, private = decode(peer, key), decode(peer, f"{name}.key")
            if certificate is not None and private is not None:
                leaves[name] = StoredLeaf(certificate, private)
    operator = secrets.get(names.operator_tls_secret)
    certificate, private = decode(operator, "tls.crt"), decode(operator, "tls.key")
    if certificate is not None and private is not None:
        leaves[OPERATOR_LEAF] = StoredLeaf(certificate, private)
    return ClusterPki(ca=ca, retiring=retiring, leaves=leaves)


def audit_secret(cluster: HiveCluster, keys: Mapping[str, bytes]) -> dict[str, Any]:
    data: dict[str, bytes] = {}
    for pod, private in keys.items():
        data[f"{pod}.key"] = private
        data[f"{pod}.pub"] = audit_public_key(private)
    return _secret(cluster, names_of(cluster).audit_secret, "audit", data)


def read_audit_keys(cluster: HiveCluster, secrets: Mapping[str, Mapping[str, Any]]) -> dict[str, bytes]:
    secret = secrets.get(names_of(cluster).audit_secret)
    keys: dict[str, bytes] = {}
    for key in (secret or {}).get("data") or {}:
        if key.endswith(".key"):
            value = decode(secret, key)
            if value is not None:
                keys[key.removesuffix(".key")] = value
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
