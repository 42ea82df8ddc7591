"""Protobuf request bodies: the decoder on hand-built and captured bytes, kubectl's typed generators, helm.

``protobuf/*.bin`` are bodies captured from the real clients against the test bed (kubectl v1.32
``create namespace|configmap|secret``, helm v4 ``uninstall``'s DeleteOptions).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hive_testbed.api import protobuf
from hive_testbed.api.errors import ApiError
from hive_testbed.rawclient import RawClient

from .conftest import Cluster, Kubectl

CAPTURED = Path(__file__).parent / "protobuf"
REPO = Path(__file__).resolve().parents[2]
HELM = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")
PROTOBUF = "application/vnd.kubernetes.protobuf"


# ------------------------------------------------------------------ a tiny encoder, for the tests only
def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative ints: ten-byte two's complement, as Go encodes int64
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _len(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _str(number: int, text: str) -> bytes:
    return _len(number, text.encode())


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _msg(number: int, *parts: bytes) -> bytes:
    return _len(number, b"".join(parts))


def _entry(number: int, key: str, value: bytes) -> bytes:
    return _msg(number, _str(1, key), _len(2, value))


def _body(api_version: str, kind: str, *parts: bytes, encoding: str = "") -> bytes:
    return (
        protobuf.MAGIC
        + _msg(1, _str(1, api_version), _str(2, kind))
        + _len(2, b"".join(parts))
        + _str(3, encoding)
        + _str(4, "")
    )


# ------------------------------------------------------------------ decoder units
def test_decodes_every_field_of_a_secret_and_its_metadata() -> None:
    body = _body(
        "v1",
        "Secret",
        _msg(
            1,
            _str(1, "creds"),
            _str(2, "creds-"),
            _str(3, "team-a"),
            _str(4, ""),  # empty strings are how gogo-protobuf encodes unset fields
            _str(5, "uid-1"),
            _str(6, "42"),
            _int(7, 3),
            _msg(8, _int(1, 1_700_000_000)),
            _msg(9, _int(1, 1_700_000_100), _int(2, 5)),
            _int(10, 0),  # a pointer in Go: 0 is set, not absent
            _entry(11, "app", b"hive"),
            _entry(11, "tier", b"db"),
            _entry(12, "note", "ünïcode".encode()),
            _msg(
                13, _str(1, "HiveCluster"), _str(3, "c1"), _str(4, "u-9"), _str(5, "hive.dev/v1"), _int(6, 1)
            ),
            _str(14, "example.com/keep"),
            _str(14, "example.com/also"),
            _msg(
                17,
                _str(1, "helm"),
                _str(2, "Update"),
                _str(3, "v1"),
                _msg(4, _int(1, 1_700_000_000)),
                _str(6, "FieldsV1"),
                _msg(7, _str(1, '{"f:data":{}}')),
            ),
        ),
        _entry(2, "bin", b"\x00\xff\xfe"),
        _entry(2, "user", b"admin"),
        _str(3, "example.com/creds"),
        _entry(4, "extra", b"plain"),
        _int(5, 0),
    )
    assert protobuf.decode(body) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "creds",
            "generateName": "creds-",
            "namespace": "team-a",
            "uid": "uid-1",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2023-11-14T22:13:20Z",
            "deletionTimestamp": "2023-11-14T22:15:00Z",
            "deletionGracePeriodSeconds": 0,
            "labels": {"app": "hive", "tier": "db"},
            "annotations": {"note": "ünïcode"},
            "ownerReferences": [
                {
                    "kind": "HiveCluster",
                    "name": "c1",
                    "uid": "u-9",
                    "apiVersion": "hive.dev/v1",
                    "controller": True,
                }
            ],
            "finalizers": ["example.com/keep", "example.com/also"],
            "managedFields": [
                {
                    "manager": "helm",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2023-11-14T22:13:20Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {}},
                }
            ],
        },
        "data": {"bin": base64.b64encode(b"\x00\xff\xfe").decode(), "user": "YWRtaW4="},
        "type": "example.com/creds",
        "stringData": {"extra": "plain"},
        "immutable": False,
    }


def test_decodes_configmaps_namespaces_and_delete_options() -> None:
    configmap = _body(
        "v1",
        "ConfigMap",
        _msg(1, _str(1, "settings")),
        _entry(2, "mode", b"fast"),
        _entry(2, "empty", b""),
        _entry(3, "blob", b"\x00\x01"),
        _int(4, 1),
    )
    assert protobuf.decode(configmap) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"mode": "fast", "empty": ""},
        "binaryData": {"blob": "AAE="},
        "immutable": True,
    }
    namespace = _body(
        "v1",
        "Namespace",
        _msg(1, _str(1, "team-a")),
        _msg(2, _str(1, "kubernetes")),
        _msg(3, _str(1, "Terminating"), _msg(2, _str(1, "Stuck"), _str(2, "True"), _str(5, "Why"))),
    )
    assert protobuf.decode(namespace) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "team-a"},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {
            "phase": "Terminating",
            "conditions": [{"type": "Stuck", "status": "True", "reason": "Why"}],
        },
    }
    options = _body(
        "meta.k8s.io/v1",
        "DeleteOptions",
        _int(1, 0),
        _msg(2, _str(1, "u-1"), _str(2, "7")),
        _str(4, "Foreground"),
        _str(5, "All"),
    )
    assert protobuf.decode(options) == {
        "apiVersion": "meta.k8s.io/v1",
        "kind": "DeleteOptions",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "u-1", "resourceVersion": "7"},
        "propagationPolicy": "Foreground",
        "dryRun": ["All"],
    }


def test_negative_integers_and_repeated_fields_decode_like_go() -> None:
    body = _body("v1", "ConfigMap", _msg(1, _str(1, "a"), _int(10, -1), _str(1, "b"), _int(7, 2), _int(7, 0)))
    # the last occurrence of a singular field wins (protobuf semantics), even when it is empty
    assert protobuf.decode(body)["metadata"] == {"name": "b", "deletionGracePeriodSeconds": -1}


CAPTURED_EXPECTED: dict[str, dict[str, Any]] = {
    "kubectl-create-namespace.bin": {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "team-a"},
        "spec": {},
        "status": {},
    },
    "kubectl-create-configmap.bin": {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "team-a"},
        "data": {"mode": "fast"},
        "binaryData": {"blob": base64.b64encode(b"\x00\xff\xfebin").decode()},
    },
    "kubectl-create-secret.bin": {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "team-a"},
        "data": {"password": "czNjcjN0", "user": "YWRtaW4="},
        "type": "example.com/creds",
    },
    "helm-uninstall-delete-options.bin": {"apiVersion": "v1", "kind": "DeleteOptions"},
}


@pytest.mark.parametrize("name", sorted(CAPTURED_EXPECTED))
def test_decodes_bodies_captured_from_kubectl_and_helm(name: str) -> None:
    assert protobuf.decode((CAPTURED / name).read_bytes()) == CAPTURED_EXPECTED[name]


SECRET_META = _msg(1, _str(1, "x"))
MALFORMED: list[tuple[str, bytes, int, str]] = [
    ("no magic", b'{"kind":"Secret"}', 400, "magic bytes"),
    ("empty after magic", protobuf.MAGIC, 415, "kind ?/?"),
    ("truncated varint", protobuf.MAGIC + b"\x0a\x85", 400, "truncated varint"),
    ("overlong varint", protobuf.MAGIC + b"\x08" + b"\xff" * 11, 400, "longer than 10 bytes"),
    ("length past the end", protobuf.MAGIC + b"\x0a\x05ab", 400, "declares 5 bytes but only 2 remain"),
    ("group wire type", protobuf.MAGIC + b"\x0b", 400, "unsupported wire type 3"),
    ("field number 0", protobuf.MAGIC + b"\x02\x00", 400, "field number 0"),
    ("unknown kind", _body("apps/v1", "Deployment", SECRET_META), 415, "apps/v1/Deployment"),
    ("gzip", _body("v1", "Secret", SECRET_META, encoding="gzip"), 415, "contentEncoding 'gzip'"),
    (
        "unknown field",
        _body("v1", "Secret", SECRET_META, _str(9, "?")),
        400,
        "unknown field 9 (wire type 2) in Secret",
    ),
    ("wrong wire type", _body("v1", "Secret", _int(1, 5)), 400, "Secret.metadata has wire type 0"),
    (
        "bad utf-8",
        _body("v1", "Secret", _msg(1, _len(1, b"\xff"))),
        400,
        "Secret.metadata.name is not valid UTF-8",
    ),
    ("bad map entry", _body("v1", "ConfigMap", _msg(2, _int(3, 1))), 400, "map entry of ConfigMap.data"),
    (
        "bad time",
        _body("v1", "Secret", _msg(1, _msg(8, _str(1, "x")))),
        400,
        "Secret.metadata.creationTimestamp",
    ),
    (
        "fieldsV1 not JSON",
        _body("v1", "Secret", _msg(1, _msg(17, _msg(7, _str(1, "{"))))),
        400,
        "fieldsV1 does not hold JSON",
    ),
]


@pytest.mark.parametrize(
    ("body", "code", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_bodies_are_refused_with_a_message(body: bytes, code: int, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        protobuf.decode(body)
    assert caught.value.code == code
    assert message in caught.value.message


# ------------------------------------------------------------------ over HTTP, with the real clients
def test_malformed_bodies_get_a_4xx_and_the_server_keeps_serving(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/secrets"
    for _, body, code, message in MALFORMED:
        reply = api.request("POST", path, body, content_type=PROTOBUF)
        assert reply.status == code, (message, reply.body)
        assert message in reply.body["message"]
    good = _body("v1", "Secret", _msg(1, _str(1, "ok")), _entry(2, "k", b"v"))
    assert api.request("POST", path, good, content_type=PROTOBUF).status == 201
    assert api.get(f"{path}/ok").body["data"] == {"k": "dg=="}


def _protobuf_writes(cluster: Cluster, since: int) -> list[str]:
    assert cluster.emulator is not None
    server = cluster.emulator.api
    return [
        f"{r.method.value} {r.url.path}"
        for r in cluster.emulator.call(lambda: server.writes(since=since))
        if r.headers.get("Content-Type", "").startswith(PROTOBUF)
    ]


def _next_request_id(cluster: Cluster) -> int:
    if cluster.emulator is None:
        return 0
    log = cluster.emulator.api.request_log()
    return log[-1].id + 1 if log else 0


def test_kubectl_typed_generators(kubectl: Kubectl, cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    since = _next_request_id(cluster)
    created = f"{namespace}-made"
    kubectl("create", "namespace", created)
    try:
        blob = tmp_path / "blob"
        blob.write_bytes(b"\x00\xffraw")
        kubectl(
            "create",
            "configmap",
            "settings",
            "-n",
            namespace,
            "--from-literal=mode=fast",
            f"--from-file=blob={blob}",
        )
        kubectl(
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            namespace,
            "--from-literal=user=admin",
            "--from-literal=pw=s3cr3t",
        )
        made = json.loads(kubectl("get", "namespace", created, "-o", "json").stdout)
        assert made["status"]["phase"] == "Active"
        configmap = json.loads(kubectl("get", "configmap", "settings", "-n", namespace, "-o", "json").stdout)
        assert configmap["data"] == {"mode": "fast"}
        assert configmap["binaryData"] == {"blob": base64.b64encode(b"\x00\xffraw").decode()}
        secret = json.loads(kubectl("get", "secret", "creds", "-n", namespace, "-o", "json").stdout)
        assert secret["type"] == "Opaque"
        assert {k: base64.b64decode(v) for k, v in secret["data"].items()} == {
            "user": b"admin",
            "pw": b"s3cr3t",
        }
        if cluster.emulator is not None:  # the bodies really went through the protobuf decoder
            assert _protobuf_writes(cluster, since) == [
                "POST /api/v1/namespaces",
                f"POST /api/v1/namespaces/{namespace}/configmaps",
                f"POST /api/v1/namespaces/{namespace}/secrets",
            ]
    finally:
        kubectl("delete", "namespace", created, "--wait=false")


# ------------------------------------------------------------------ helm
def _helm_runner(cluster: Cluster, home: Path) -> Any:
    if HELM is None:
        pytest.skip("helm is not installed (make installs it: hive tools install-helm)")
    env = dict(
        os.environ,
        HELM_CACHE_HOME=str(home / "cache"),
        HELM_CONFIG_HOME=str(home / "config"),
        HELM_DATA_HOME=str(home / "data"),
    )

    def helm(*args: str) -> str:
        assert HELM is not None
        result = subprocess.run(
            [HELM, "--kubeconfig", str(cluster.kubeconfig), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    return helm


def _release_secrets(api: RawClient, namespace: str) -> dict[str, dict[str, Any]]:
    reply = api.get(f"/api/v1/namespaces/{namespace}/secrets", params={"labelSelector": "owner=helm"})
    assert reply.status == 200, reply.body
    return {s["metadata"]["name"]: s for s in reply.body["items"]}


def _helm_lifecycle(
    helm: Any, api: RawClient, namespace: str, chart: Path, check: Callable[[str], None] = lambda _: None
) -> None:
    """install, upgrade, uninstall; ``check(greeting)`` runs after each of the first two."""
    helm("install", "rel", str(chart), "-n", namespace, "--set", "greeting=hello")
    check("hello")
    [listed] = json.loads(helm("list", "-n", namespace, "-o", "json"))
    assert (listed["name"], listed["status"], listed["revision"]) == ("rel", "deployed", "1")
    secrets = _release_secrets(api, namespace)
    assert list(secrets) == ["sh.helm.release.v1.rel.v1"]
    assert secrets["sh.helm.release.v1.rel.v1"]["type"] == "helm.sh/release.v1"
    assert secrets["sh.helm.release.v1.rel.v1"]["metadata"]["labels"]["status"] == "deployed"

    helm("upgrade", "rel", str(chart), "-n", namespace, "--set", "greeting=bye")
    check("bye")
    [listed] = json.loads(helm("list", "-n", namespace, "-o", "json"))
    assert (listed["status"], listed["revision"]) == ("deployed", "2")
    statuses = {n: s["metadata"]["labels"]["status"] for n, s in _release_secrets(api, namespace).items()}
    assert statuses == {"sh.helm.release.v1.rel.v1": "superseded", "sh.helm.release.v1.rel.v2": "deployed"}

    helm("uninstall", "rel", "-n", namespace)
    assert _release_secrets(api, namespace) == {}
    assert json.loads(helm("list", "-n", namespace, "-o", "json")) == []


def test_helm_install_upgrade_uninstall_a_configmap_chart(
    cluster: Cluster, api: RawClient, namespace: str, tmp_path: Path
) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: hi\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n"
        "  greeting: {{ .Values.greeting | quote }}\n"
    )
    helm = _helm_runner(cluster, tmp_path / "helm-home")
    cm_path = f"/api/v1/namespaces/{namespace}/configmaps/rel-cm"
    since = _next_request_id(cluster)

    def check(greeting: str) -> None:
        assert api.get(cm_path).body["data"] == {"greeting": greeting}

    _helm_lifecycle(helm, api, namespace, chart, check)
    assert api.get(cm_path).status == 404  # uninstall removed the chart's object too
    if cluster.emulator is not None:
        writes = _protobuf_writes(cluster, since)
        assert f"DELETE /api/v1/namespaces/{namespace}/secrets/sh.helm.release.v1.rel.v2" in writes
        assert f"POST /api/v1/namespaces/{namespace}/secrets" in writes


def test_helm_install_upgrade_uninstall_the_hive_chart(
    cluster: Cluster, api: RawClient, namespace: str, tmp_path: Path
) -> None:
    helm = _helm_runner(cluster, tmp_path / "helm-home")
    _helm_lifecycle(helm, api, namespace, REPO / "charts/hive")
    crds = api.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/hiveclusters.hive.dev")
    assert crds.status == 200  # helm installs crds/ and, by design, never deletes them
