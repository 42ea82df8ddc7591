"""Objects a fresh bed needs besides Kubernetes' own bootstrap policy, and its kubeconfigs.

The bed's network component (cluster DNS names and the ClusterIP proxy, in place of CoreDNS and
kube-proxy) and its local volume provisioner run under identities of their own, granted exactly
what they use through RBAC. The default StorageClass binds claims on first consumer, so a claim's
volume is made on the node the scheduler picked, as local volumes are.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

NETWORK_USER = "system:hive:network"
PROVISIONER_USER = "system:hive:local-provisioner"
PROVISIONER_NAME = "testbed.hive.dev/local"
STORAGE_CLASS = "hive-local"


def _cluster_role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    }


def _binding(name: str, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


def bootstrap_objects() -> list[dict[str, Any]]:
    read = ["get", "list", "watch"]
    return [
        _cluster_role(
            "hive-testbed:network",
            [{"apiGroups": [""], "resources": ["pods", "services", "namespaces"], "verbs": read}],
        ),
        _binding("hive-testbed:network", NETWORK_USER),
        _cluster_role(
            "hive-testbed:local-provisioner",
            [
                {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": [*read, "create", "delete"]},
                {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": read},
                {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": read},
                {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
            ],
        ),
        _binding("hive-testbed:local-provisioner", PROVISIONER_USER),
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": PROVISIONER_NAME,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowVolumeExpansion": False,
        },
    ]


def render_kubeconfig(
    *, server: str, ca_file: Path, cert_file: Path, key_file: Path, user: str, namespace: str = "default"
) -> str:
    """A kubeconfig with the CA and client credentials embedded (portable, like kind's)."""

    def data(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "hive-testbed",
                "cluster": {"server": server, "certificate-authority-data": data(ca_file)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": data(cert_file), "client-key-data": data(key_file)},
            }
        ],
        "contexts": [
            {
                "name": "hive-testbed",
                "context": {"cluster": "hive-testbed", "user": user, "namespace": namespace},
            }
        ],
        "current-context": "hive-testbed",
        "preferences": {},
    }
    return yaml.safe_dump(document, sort_keys=False)


def write_private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path
