"""The runtime pods: a StatefulSet whose pod template gives the kubelet what it needs for
exclusive cores (Guaranteed QoS, whole CPUs) and gives the runtime nothing it does not need
(no service-account token, no capabilities, read-only root, secrets as files only).

Why a StatefulSet and not pods managed directly is argued in docs/architecture.md; in short,
stable ordinal names, per-ordinal volumes and a ``partition`` that updates only ordinals at or
above it are exactly what a leader-aware rollout and a canary learner at ordinal ``replicas``
need, and the operator stays in charge of order through the partition.
"""

from __future__ import annotations

from typing import Any

from hive_operator.api import HiveCluster
from hive_operator.api.placement import AntiAffinity
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
    labels,
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
        "args": [f"--config={CONFIG_DIR}/$(POD_NAME).yaml", *listen],
        # Only what binding and choosing the config file need; no secret ever comes this way.
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


def _volumes(cluster: HiveCluster) -> list[dict[str, Any]]:
    names = names_of(cluster)
    spec = cluster.spec
    volumes = [
        {"name": "config", "configMap": {"name": names.config_map, "defaultMode": 0o444}},
        _secret_volume("tls", names.peer_tls_secret),
        _secret_volume("audit", names.audit_secret),
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


def pod_template(cluster: HiveCluster) -> dict[str, Any]:
    spec = cluster.spec
    isolation = spec.cpu_isolation
    annotations = dict(CRIO_ANNOTATIONS) if isolation.crio_annotations else {}
    pod_spec: dict[str, Any] = {
        "serviceAccountName": names_of(cluster).service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
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
        "volumes": _volumes(cluster),
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
        pod_spec["imagePullSecrets"] = [{"name": name} for name in spec.image.pull_secrets]
    template_meta: dict[str, Any] = {"labels": {**labels(cluster, "runtime"), **selector_labels(cluster)}}
    if annotations:
        template_meta["annotations"] = annotations
    return {"metadata": template_meta, "spec": pod_spec}


def statefulset(cluster: HiveCluster, *, pods: int, partition: int = 0) -> dict[str, Any]:
    """The runtime StatefulSet with ``pods`` ordinals; ordinals ``>= partition`` get this template."""
    names = names_of(cluster)
    spec = cluster.spec
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": spec.storage.size}},
    }
    if spec.storage.storage_class_name is not None:
        claim_spec["storageClassName"] = spec.storage.storage_class_name
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(cluster, names.statefulset, "runtime"),
        "spec": {
            "replicas": pods,
            "serviceName": names.peer_service,
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}},
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": spec.storage.retention_policy.value,
                "whenScaled": "Retain",
            },
            "selector": {"matchLabels": selector_labels(cluster)},
            "template": pod_template(cluster),
            "volumeClaimTemplates": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    # No version label: claim templates cannot change after creation.
                    "metadata": {
                        "name": "data",
                        "labels": {**selector_labels(cluster), "app.kubernetes.io/component": "data"},
                    },
                    "spec": claim_spec,
                }
            ],
        },
    }
