"""The runtime pods and their data claims, one of each per ordinal, managed by the operator itself.

Each pod gets what the kubelet needs for exclusive cores (Guaranteed QoS, whole CPUs) and nothing
the runtime does not need (no service-account token, no capabilities, read-only root, secrets as
files only). Pods are built one by one rather than from a StatefulSet's shared template so that
each mounts only its own certificate key and audit key (``<pod>-tls``, ``<pod>-audit``); why that
is worth managing pods directly, as CloudNativePG does, is argued in docs/architecture.md. Names
stay the StatefulSet's (``<cluster>-<k>``, claims ``data-<cluster>-<k>``, DNS through the headless
Service as ``hostname``/``subdomain``), so a canary learner at ordinal ``replicas`` lives in the
voters' name space.
"""

from __future__ import annotations

from typing import Any

from hive_operator.api import HiveCluster
from hive_operator.api.placement import AntiAffinity, RetentionPolicy
from hive_operator.api.types import parse_duration
from hive_operator.specs.meta import (
    AUDIT_DIR,
    BACKUP_KEY_DIR,
    BACKUP_KEY_FILE,
    CONFIG_DIR,
    DATA_MOUNT,
    PORTS,
    RUNTIME_UID,
    SECRETS_DIR,
    TLS_DIR,
    TMP_DIR,
    metadata,
    names_of,
    selector_labels,
)

SECRET_FILE_MODE = 0o440  # owner and fsGroup may read; nobody may write
HANDOVER_MARGIN_SECONDS = 15  # beyond the leader-transfer timeout: flush, close, exit
CRIO_ANNOTATIONS = {
    "cpu-quota.crio.io": "disable",
    "cpu-load-balancing.crio.io": "disable",
    "irq-load-balancing.crio.io": "disable",
}
POD_LABEL = "hive.dev/pod"  # one pod's own label (its name): selects exactly that member
RUNTIME_CONFIG_FILE = "runtime.yaml"
CONFIG_DIGEST = "hive.dev/config-digest"
CLAIM_OF = "hive.dev/claim-of"  # on a retained (unowned) claim: the uid of its HiveCluster


def image(cluster: HiveCluster) -> str:
    return f"{cluster.spec.image.repository}:{cluster.spec.version}"


def termination_grace_seconds(cluster: HiveCluster) -> int:
    """Long enough for a leader to hand over (the spec's transfer timeout) and exit cleanly."""
    transfer = parse_duration(cluster.spec.upgrade.timeouts.leader_transfer)
    return int(transfer.total_seconds()) + HANDOVER_MARGIN_SECONDS


def _container(cluster: HiveCluster) -> dict[str, Any]:
    spec = cluster.spec
    quantity = {"cpu": str(spec.resources.cpu), "memory": spec.resources.memory}
    listen = [f"--set=listen.{name}=$(POD_IP):{port}" for name, port in PORTS.items()]
    mounts = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
        {"name": "audit", "mountPath": AUDIT_DIR, "readOnly": True},
        {"name": "data", "mountPath": DATA_MOUNT},
        {"name": "tmp", "mountPath": TMP_DIR},
    ]
    if spec.backup is not None:
        mounts.append({"name": "backup-key", "mountPath": BACKUP_KEY_DIR, "readOnly": True})
    mounts += [
        {"name": f"secret-{index}", "mountPath": f"{SECRETS_DIR}/{mount.name}", "readOnly": True}
        for index, mount in enumerate(spec.secrets)
    ]
    return {
        "name": "runtime",
        "image": image(cluster),
        "imagePullPolicy": spec.image.pull_policy.value,
        "command": ["hive", "runtime", "serve"],
        "args": [f"--config={CONFIG_DIR}/{RUNTIME_CONFIG_FILE}", *listen],
        # Only what binding needs; no secret ever comes this way.
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        "ports": [{"name": name, "containerPort": port, "protocol": "TCP"} for name, port in PORTS.items()],
        "resources": {"requests": dict(quantity), "limits": dict(quantity)},
        "startupProbe": _probe("/healthz", period=2, failures=150),
        "readinessProbe": _probe("/readyz", period=2, failures=2),
        "livenessProbe": _probe("/healthz", period=10, failures=3),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": mounts,
    }


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "probe", "scheme": "HTTP"},
        "periodSeconds": period,
        "timeoutSeconds": 1,
        "failureThreshold": failures,
    }


def _secret_volume(name: str, secret: str, items: list[dict[str, str]] | None = None) -> dict[str, Any]:
    source: dict[str, Any] = {"secretName": secret, "defaultMode": SECRET_FILE_MODE}
    if items:
        source["items"] = items
    return {"name": name, "secret": source}


def _volumes(cluster: HiveCluster, ordinal: int) -> list[dict[str, Any]]:
    names = names_of(cluster)
    spec = cluster.spec
    pod = names.pod(ordinal)
    config_items = [{"key": f"{pod}.yaml", "path": RUNTIME_CONFIG_FILE}]
    volumes = [
        {
            "name": "config",
            "configMap": {"name": names.config_map, "defaultMode": 0o444, "items": config_items},
        },
        _secret_volume("tls", names.pod_tls_secret(ordinal)),
        _secret_volume("audit", names.pod_audit_secret(ordinal)),
        {"name": "data", "persistentVolumeClaim": {"claimName": names.data_claim(ordinal)}},
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
    ]
    if spec.backup is not None:
        key = spec.backup.encryption_key_secret
        volumes.append(_secret_volume("backup-key", key.name, [{"key": key.key, "path": BACKUP_KEY_FILE}]))
    for index, mount in enumerate(spec.secrets):
        items = [{"key": item.key, "path": item.path} for item in mount.items]
        volumes.append(_secret_volume(f"secret-{index}", mount.name, items))
    return volumes


def _affinity(cluster: HiveCluster) -> dict[str, Any]:
    term: dict[str, Any] = {
        "labelSelector": {"matchLabels": selector_labels(cluster)},
        "topologyKey": "kubernetes.io/hostname",
    }
    anti: dict[str, Any]
    if cluster.spec.scheduling.anti_affinity is AntiAffinity.REQUIRED:
        anti = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    else:
        anti = {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]}
    return {"podAntiAffinity": anti}


def pod(cluster: HiveCluster, ordinal: int, *, config_digest: str) -> dict[str, Any]:
    """Runtime pod ``<cluster>-<ordinal>``; the planner replaces it when this object changes, and
    ``config_digest`` (of the pod's runtime config file, which the runtime reads at start) is part
    of it, so a changed config replaces the pod too."""
    names = names_of(cluster)
    spec = cluster.spec
    isolation = spec.cpu_isolation
    name = names.pod(ordinal)
    pod_spec: dict[str, Any] = {
        "hostname": name,
        "subdomain": names.peer_service,
        "serviceAccountName": names.service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": termination_grace_seconds(cluster),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_UID,
            "runAsGroup": RUNTIME_UID,
            "fsGroup": RUNTIME_UID,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "affinity": _affinity(cluster),
        "containers": [_container(cluster)],
        "volumes": _volumes(cluster, ordinal),
    }
    if spec.scheduling.zone_spread:
        pod_spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector_labels(cluster)},
            }
        ]
    if isolation.runtime_class_name is not None:
        pod_spec["runtimeClassName"] = isolation.runtime_class_name
    if isolation.node_selector:
        pod_spec["nodeSelector"] = dict(isolation.node_selector)
    if isolation.tolerations:
        pod_spec["tolerations"] = [
            toleration.model_dump(mode="json", by_alias=True, exclude_none=True)
            for toleration in isolation.tolerations
        ]
    if spec.image.pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": secret} for secret in spec.image.pull_secrets]
    meta = metadata(cluster, name, "runtime")
    meta["labels"] |= {**selector_labels(cluster), POD_LABEL: name}
    meta["annotations"] = {CONFIG_DIGEST: config_digest}
    if isolation.crio_annotations:
        meta["annotations"] |= CRIO_ANNOTATIONS
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}


def data_claim(cluster: HiveCluster, ordinal: int) -> dict[str, Any]:
    """The data volume claim of pod ``<cluster>-<ordinal>``. It outlives its pod: a replaced pod
    gets its log back. With ``storage.retentionPolicy: Delete`` it is owned by the cluster and
    goes with it (the finalizer also deletes it); with ``Retain`` it is not owned at all."""
    names = names_of(cluster)
    spec = cluster.spec
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": spec.storage.size}},
    }
    if spec.storage.storage_class_name is not None:
        claim_spec["storageClassName"] = spec.storage.storage_class_name
    meta = metadata(cluster, names.data_claim(ordinal), "data")
    # No version label: a claim is never replaced, so nothing on it should follow upgrades.
    meta["labels"] = {**selector_labels(cluster), "app.kubernetes.io/component": "data"} | {
        key: value
        for key, value in meta["labels"].items()
        if key not in ("app.kubernetes.io/version", "app.kubernetes.io/component")
    }
    meta["labels"][POD_LABEL] = names.pod(ordinal)
    if spec.storage.retention_policy is RetentionPolicy.RETAIN:
        # Not owned, so no garbage collection can take it (foreground deletion of the cluster
        # deletes owned children before any finalizer of ours runs); the cluster's uid says whose
        # it is, for reading it back.
        del meta["ownerReferences"]
        meta["annotations"] = {CLAIM_OF: _uid(cluster)}
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": claim_spec}


def _uid(cluster: HiveCluster) -> str:
    uid = cluster.metadata.uid
    if not uid:
        raise ValueError("the HiveCluster has no metadata.uid")
    return uid
