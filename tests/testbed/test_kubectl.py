"""The real kubectl binary against the test bed: the commands the issue lists must behave as on a cluster."""

from __future__ import annotations

import json
import time
from typing import Any

import yaml

from hive_testbed.rawclient import RawClient

WIDGET = """
apiVersion: example.dev/v1
kind: Widget
metadata:
  name: {name}
  labels: {{app: {app}}}
spec:
  image: demo:1
  replicas: {replicas}
"""


def test_apply_client_side_then_get_yaml(kubectl: Any, namespace: str, widgets: str) -> None:
    manifest = WIDGET.format(name="a", app="demo", replicas=2)
    assert (
        "created" in kubectl("apply", "--validate=false", "-n", namespace, "-f", "-", stdin=manifest).stdout
    )
    changed = manifest.replace("replicas: 2", "replicas: 3")
    assert (
        "configured" in kubectl("apply", "--validate=false", "-n", namespace, "-f", "-", stdin=changed).stdout
    )
    shown = yaml.safe_load(kubectl("get", "widget", "a", "-n", namespace, "-o", "yaml").stdout)
    assert shown["spec"]["replicas"] == 3
    assert shown["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in shown["metadata"]["annotations"]


def test_apply_server_side(kubectl: Any, namespace: str, widgets: str) -> None:
    manifest = WIDGET.format(name="s", app="demo", replicas=1)
    out = kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=manifest).stdout
    assert "serverside-applied" in out
    kubectl(
        "apply",
        "--server-side",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=manifest.replace("replicas: 1", "replicas: 4"),
    )
    shown = json.loads(
        kubectl("get", "widget", "s", "-n", namespace, "-o", "json", "--show-managed-fields").stdout
    )
    assert shown["spec"]["replicas"] == 4
    assert {"kubectl", "Apply"} <= {
        v for e in shown["metadata"]["managedFields"] for v in e.values() if isinstance(v, str)
    }


def test_get_with_label_selector_and_table(kubectl: Any, namespace: str, widgets: str) -> None:
    for name, app in (("wx", "one"), ("wy", "two")):
        kubectl(
            "apply",
            "--validate=false",
            "-n",
            namespace,
            "-f",
            "-",
            stdin=WIDGET.format(name=name, app=app, replicas=1),
        )
    table = kubectl("get", "widgets", "-n", namespace, "-l", "app=two").stdout
    lines = table.strip().splitlines()
    assert lines[0].split()[:3] == ["NAME", "REPLICAS", "PHASE"]
    assert [line.split()[0] for line in lines[1:]] == ["wy"]


def test_get_watch_prints_changes(kubectl: Any, api: RawClient, namespace: str) -> None:
    watcher = kubectl.popen("get", "configmaps", "-n", namespace, "-w", "-o", "name", "--request-timeout=20s")
    try:
        time.sleep(1.0)
        api.post(f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "watched"}, "data": {}})
        assert watcher.stdout is not None
        line = ""
        deadline = time.monotonic() + 10
        while "watched" not in line and time.monotonic() < deadline:
            line = watcher.stdout.readline()
        assert line.strip() == "configmap/watched"
    finally:
        watcher.terminate()
        watcher.wait(5)


def test_describe(kubectl: Any, namespace: str, widgets: str) -> None:
    kubectl(
        "apply",
        "--validate=false",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=WIDGET.format(name="d", app="x", replicas=1),
    )
    out = kubectl("describe", "widget", "d", "-n", namespace).stdout
    assert "Name:         d" in out
    assert "Replicas:" in out


def test_patch_status_subresource_and_scale(kubectl: Any, namespace: str, widgets: str) -> None:
    kubectl(
        "apply",
        "--validate=false",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=WIDGET.format(name="p", app="x", replicas=1),
    )
    kubectl(
        "patch",
        "widget",
        "p",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"phase": "Ready"}, "spec": {"replicas": 9}}',
    )
    kubectl("scale", "widget", "p", "-n", namespace, "--replicas=5")
    shown = json.loads(kubectl("get", "widget", "p", "-n", namespace, "-o", "json").stdout)
    assert shown["status"]["phase"] == "Ready"
    assert shown["spec"]["replicas"] == 5


def test_wait_for_condition(kubectl: Any, api: RawClient, namespace: str, widgets: str) -> None:
    kubectl(
        "apply",
        "--validate=false",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=WIDGET.format(name="w", app="x", replicas=1),
    )
    waiter = kubectl.popen("wait", "--for=condition=Ready", "widget/w", "-n", namespace, "--timeout=15s")
    time.sleep(0.5)
    condition = {
        "type": "Ready",
        "status": "True",
        "reason": "Test",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    api.patch(f"{widgets}/namespaces/{namespace}/widgets/w/status", {"status": {"conditions": [condition]}})
    out, err = waiter.communicate(timeout=20)
    assert waiter.returncode == 0, err
    assert "condition met" in out


def test_delete_waits_for_finalizers(kubectl: Any, api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    api.post(path, {"metadata": {"name": "f", "finalizers": ["example.dev/hold"]}, "data": {}})
    deleter = kubectl.popen("delete", "configmap", "f", "-n", namespace, "--timeout=15s")
    time.sleep(0.5)
    assert deleter.poll() is None  # still waiting for the finalizer
    api.patch(f"{path}/f", {"metadata": {"finalizers": None}})
    out, err = deleter.communicate(timeout=20)
    assert deleter.returncode == 0, err
    assert 'configmap "f" deleted' in out
    assert kubectl("get", "configmap", "f", "-n", namespace, check=False).returncode != 0


def test_apply_crd_directory(kubectl: Any, tmp_path: Any) -> None:
    crd = tmp_path / "crd.yaml"
    crd.write_text(
        """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.dev}
spec:
  group: example.dev
  scope: Cluster
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
    )
    kubectl("apply", "-f", str(tmp_path))
    kubectl("wait", "--for=condition=Established", "crd/gadgets.example.dev", "--timeout=10s")
    kubectl(
        "apply",
        "-f",
        "-",
        stdin="apiVersion: example.dev/v1alpha1\nkind: Gadget\nmetadata: {name: g}\nspec: {a: 1}\n",
    )
    assert kubectl("get", "gadgets", "-o", "name").stdout.strip() == "gadget.example.dev/g"
    kubectl("delete", "-f", str(tmp_path))
    assert kubectl("get", "gadgets", check=False).returncode != 0
