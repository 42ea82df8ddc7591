"""The runtime configuration of each pod, rendered into one ConfigMap (one key per pod).

Each runtime needs its own ``node_id``, name and membership, so the ConfigMap holds
``<pod>.yaml`` per ordinal and each pod mounts only its own key, as ``runtime.yaml``. The file
holds paths only, never secret material: certificates, keys and user Secrets are mounted files
the runtime reloads in place. Node ids are ``ordinal + 1``, which
is the runtime's own default naming (``<cluster>-<node_id - 1>``).

Bootstrap or join is decided per ordinal by :class:`Membership` and rendered explicitly
(:func:`_membership_section`): an ordinal of the bootstrap set has ``membership: bootstrap`` and
is one of ``initial_members``; any other ordinal has ``membership: join``, with the bootstrap set
as ``initial_members`` (the membership at log index 0) and itself not in it, so it waits to be
added as a learner through the admin API and never elects itself. The runtime reads both on its
first start only. ``shutdown.transfer_timeout_seconds`` is the spec's leader-transfer timeout,
which the pod's grace period exceeds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from hive_operator.api import HiveCluster
from hive_operator.api.types import parse_duration
from hive_operator.specs.meta import (
    AUDIT_DIR,
    BACKUP_KEY_DIR,
    BACKUP_KEY_FILE,
    DATA_DIR,
    PORTS,
    SECRETS_DIR,
    TLS_DIR,
    metadata,
    names_of,
)

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # same output as safe_dump, in C when available


@dataclass(frozen=True)
class Membership:
    """Which ordinals bootstrap a brand-new cluster; every other ordinal joins an existing one."""

    bootstrap_ordinals: tuple[int, ...]

    @classmethod
    def new_cluster(cls, replicas: int) -> Membership:
        """A brand-new cluster: ordinals ``0..replicas-1`` are its initial voters."""
        return cls(bootstrap_ordinals=tuple(range(replicas)))

    def bootstraps(self, ordinal: int) -> bool:
        return ordinal in self.bootstrap_ordinals


def _member_address(cluster: HiveCluster, ordinal: int, port: str) -> str:
    names = names_of(cluster)
    return f"{names.pod(ordinal)}.{names.peer_service}.{names.namespace}.svc:{PORTS[port]}"


def _membership_section(cluster: HiveCluster, ordinal: int, membership: Membership) -> dict[str, Any]:
    names = names_of(cluster)
    return {
        "membership": "bootstrap" if membership.bootstraps(ordinal) else "join",
        "initial_members": [
            {
                "id": ordinal + 1,
                "name": names.pod(ordinal),
                "peer": _member_address(cluster, ordinal, "peer"),
                "client": _member_address(cluster, ordinal, "client"),
            }
            for ordinal in membership.bootstrap_ordinals
        ],
        "member_template": {
            "peer": f"{{name}}.{names.peer_service}.{{namespace}}.svc:{PORTS['peer']}",
            "client": f"{{name}}.{names.peer_service}.{{namespace}}.svc:{PORTS['client']}",
        },
    }


def _transfer_timeout_seconds(cluster: HiveCluster) -> float:
    """The spec's leader-transfer timeout, within the runtime's bound (an hour)."""
    return min(parse_duration(cluster.spec.upgrade.timeouts.leader_transfer).total_seconds(), 3600.0)


def runtime_config(cluster: HiveCluster, ordinal: int, membership: Membership) -> dict[str, Any]:
    """The configuration document of pod ``<cluster>-<ordinal>`` (``hive_runtime.config`` schema).

    Listen addresses are left at their defaults here: the container binds its pod IP through
    ``--set listen.<port>=$(POD_IP):<port>`` (the IP is known only once the pod exists).
    """
    names = names_of(cluster)
    pod = names.pod(ordinal)
    document: dict[str, Any] = {
        "node_id": ordinal + 1,
        "namespace": names.namespace,
        "cluster": names.cluster,
        "name": pod,
        **_membership_section(cluster, ordinal, membership),
        "data_dir": DATA_DIR,
        "tls": {"ca": f"{TLS_DIR}/ca.crt", "cert": f"{TLS_DIR}/tls.crt", "key": f"{TLS_DIR}/tls.key"},
        "secrets_dir": SECRETS_DIR,
        "audit_key_file": f"{AUDIT_DIR}/audit.key",
        "cpu": {"pin": "auto" if cluster.spec.cpu_isolation.exclusive_cores else "off"},
        "shutdown": {"transfer_timeout_seconds": _transfer_timeout_seconds(cluster)},
    }
    if cluster.spec.backup is not None:
        document["backup_key_file"] = f"{BACKUP_KEY_DIR}/{BACKUP_KEY_FILE}"
    return document


def runtime_config_text(cluster: HiveCluster, ordinal: int, membership: Membership) -> str:
    """:func:`runtime_config` as the YAML file the pod reads."""
    return yaml.dump(runtime_config(cluster, ordinal, membership), Dumper=_DUMPER, sort_keys=False)


def config_digest(text: str) -> str:
    """Short digest of one pod's config file, stamped on the pod so a config change replaces it
    (the runtime reads its configuration at start)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_map(cluster: HiveCluster, *, pods: int, membership: Membership) -> dict[str, Any]:
    """The ConfigMap holding every pod's configuration, ``<pod>.yaml`` per ordinal."""
    names = names_of(cluster)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(cluster, names.config_map, "config"),
        "data": {
            f"{names.pod(ordinal)}.yaml": runtime_config_text(cluster, ordinal, membership)
            for ordinal in range(pods)
        },
    }


def membership_from_config_map(cluster: HiveCluster, observed: Mapping[str, Any] | None) -> Membership | None:
    """The bootstrap voters an existing ConfigMap was rendered with (None: no usable ConfigMap).

    Once a cluster exists its bootstrap set must never change (scaling adds joining ordinals),
    so the planner reads it back from what it wrote the first time.
    """
    if observed is None:
        return None
    text = (observed.get("data") or {}).get(f"{names_of(cluster).pod(0)}.yaml")
    if not isinstance(text, str):
        return None
    try:
        document = yaml.safe_load(text)
        ids = [int(member["id"]) for member in document["initial_members"]]
    except (yaml.YAMLError, KeyError, TypeError, ValueError):
        return None
    return Membership(bootstrap_ordinals=tuple(sorted(node_id - 1 for node_id in ids)))
