"""Fidelity probe: one test per API semantic the operator relies on, valid against a real API server too.

It runs on the bed's real control plane by default; ``HIVE_FIDELITY_KUBECONFIG=~/.kube/kind pytest
tests/testbed/test_fidelity.py`` runs the same assertions against any other cluster (see conftest.py).
These are the API semantics the operator depends on; with the real API server they guard the bed's
configuration (authorizers, admission, controllers) rather than a re-implementation.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from hive_testbed.rawclient import RawClient

# Every namespace also gets this ConfigMap from the controller manager's root CA publisher.
ROOT_CA = "kube-root-ca.crt"


def cm(name: str, data: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **meta},
        "data": data or {"k": "v"},
    }


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.dev/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"image": "demo:1", **spec},
    }


def wait_until(predicate: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


# ---------------------------------------------------------------- metadata
def test_create_assigns_uid_timestamp_generation_and_version(api: RawClient, namespace: str) -> None:
    reply = api.post(f"/api/v1/namespaces/{namespace}/configmaps", cm("a"))
    assert reply.status == 201
    meta = reply["metadata"]
    assert len(meta["uid"]) == 36
    assert meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0


def test_resource_version_is_one_counter_across_kinds(api: RawClient, namespace: str) -> None:
    first = api.post(f"/api/v1/namespaces/{namespace}/configmaps", cm("a"))
    second = api.post(f"/api/v1/namespaces/{namespace}/secrets", {"metadata": {"name": "s"}})
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])


def test_generation_counts_spec_changes_only(api: RawClient, namespace: str, widgets: str) -> None:
    path = f"{widgets}/namespaces/{namespace}/widgets"
    created = api.post(path, widget("g"))
    assert created["metadata"]["generation"] == 1
    labelled = api.patch(f"{path}/g", {"metadata": {"labels": {"x": "y"}}})
    assert labelled["metadata"]["generation"] == 1
    status = api.patch(f"{path}/g/status", {"status": {"phase": "Ready"}})
    assert status["metadata"]["generation"] == 1
    changed = api.patch(f"{path}/g", {"spec": {"replicas": 3}})
    assert changed["metadata"]["generation"] == 2


def test_noop_update_keeps_resource_version(api: RawClient, namespace: str) -> None:
    created = api.post(f"/api/v1/namespaces/{namespace}/configmaps", cm("a"))
    same = api.patch(f"/api/v1/namespaces/{namespace}/configmaps/a", {"data": {"k": "v"}})
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_not_found_and_already_exists(api: RawClient, namespace: str) -> None:
    assert api.get(f"/api/v1/namespaces/{namespace}/configmaps/missing").status == 404
    api.post(f"/api/v1/namespaces/{namespace}/configmaps", cm("a"))
    again = api.post(f"/api/v1/namespaces/{namespace}/configmaps", cm("a"))
    assert again.status == 409
    assert again["reason"] == "AlreadyExists"


# ---------------------------------------------------------------- optimistic concurrency
def test_update_with_stale_resource_version_is_409(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    created = api.post(path, cm("a"))
    api.patch(f"{path}/a", {"data": {"k": "v2"}})
    stale = dict(created.body, data={"k": "v3"})
    reply = api.put(f"{path}/a", stale)
    assert reply.status == 409
    assert reply["reason"] == "Conflict"


def test_patch_with_stale_resource_version_is_409(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    created = api.post(path, cm("a"))
    api.patch(f"{path}/a", {"data": {"k": "v2"}})
    rv = created["metadata"]["resourceVersion"]
    reply = api.patch(f"{path}/a", {"metadata": {"resourceVersion": rv}, "data": {"k": "v3"}})
    assert reply.status == 409


def test_failed_json_patch_test_is_422(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    api.post(path, cm("a"))
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "replace", "path": "/data/k", "value": "x"},
    ]
    reply = api.patch(f"{path}/a", ops, kind="json")
    assert reply.status == 422
    assert api.get(f"{path}/a")["data"] == {"k": "v"}


# ---------------------------------------------------------------- subresources
def test_status_subresource_is_separate(api: RawClient, namespace: str, widgets: str) -> None:
    path = f"{widgets}/namespaces/{namespace}/widgets"
    created = api.post(path, dict(widget("s"), status={"phase": "Ignored"}))
    assert "status" not in created.body
    main = api.patch(f"{path}/s", {"spec": {"replicas": 2}, "status": {"phase": "Nope"}})
    assert "status" not in main.body
    status = api.patch(f"{path}/s/status", {"spec": {"replicas": 5}, "status": {"phase": "Ready"}})
    assert status["status"] == {"phase": "Ready"}
    assert status["spec"]["replicas"] == 2


def test_scale_subresource(api: RawClient, namespace: str, widgets: str) -> None:
    path = f"{widgets}/namespaces/{namespace}/widgets"
    api.post(path, widget("sc", replicas=2))
    scale = api.get(f"{path}/sc/scale")
    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == 2
    patched = api.patch(f"{path}/sc/scale", {"spec": {"replicas": 4}})
    assert patched["spec"]["replicas"] == 4
    assert api.get(f"{path}/sc")["spec"]["replicas"] == 4


# ---------------------------------------------------------------- namespaces and lists
def test_namespaces_list_and_missing_namespace(api: RawClient, namespace: str) -> None:
    listing = api.get("/api/v1/namespaces")
    assert listing.status == 200
    assert namespace in [n["metadata"]["name"] for n in listing["items"]]
    assert api.get(f"/api/v1/namespaces/{namespace}")["status"]["phase"] == "Active"
    missing = api.post("/api/v1/namespaces/does-not-exist-x/configmaps", cm("a"))
    assert missing.status == 404


def test_list_has_kind_api_version_and_resource_version(api: RawClient, namespace: str, widgets: str) -> None:
    listing = api.get(f"/api/v1/namespaces/{namespace}/configmaps")
    assert listing["kind"] == "ConfigMapList"
    assert listing["apiVersion"] == "v1"
    assert int(listing["metadata"]["resourceVersion"]) > 0
    custom = api.get(f"{widgets}/namespaces/{namespace}/widgets")
    assert custom["kind"] == "WidgetList"
    assert custom["apiVersion"] == "example.dev/v1"


def test_label_selectors(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    api.post(path, cm("a", labels={"app": "x", "tier": "web"}))
    api.post(path, cm("b", labels={"app": "y"}))
    api.post(path, cm("c"))

    def names(selector: str) -> list[str]:
        items = api.get(path, params={"labelSelector": selector})["items"]
        return sorted(i["metadata"]["name"] for i in items if i["metadata"]["name"] != ROOT_CA)

    assert names("app=x") == ["a"]
    assert names("app!=x") == ["b", "c"]
    assert names("app in (x,y)") == ["a", "b"]
    assert names("app notin (x)") == ["b", "c"]
    assert names("tier") == ["a"]
    assert names("!app") == ["c"]
    assert names("app=x,tier=web") == ["a"]


def test_field_selectors(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    api.post(path, cm("a"))
    api.post(path, cm("b"))
    only_b = api.get(path, params={"fieldSelector": "metadata.name=b"})
    assert [i["metadata"]["name"] for i in only_b["items"]] == ["b"]
    not_b = api.get(path, params={"fieldSelector": f"metadata.name!=b,metadata.name!={ROOT_CA}"})
    assert [i["metadata"]["name"] for i in not_b["items"]] == ["a"]


# ---------------------------------------------------------------- watch
def test_watch_streams_json_events(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    start = api.get(path)["metadata"]["resourceVersion"]
    api.post(path, cm("a"))
    api.patch(f"{path}/a", {"data": {"k": "v2"}})
    api.delete(f"{path}/a")
    events, headers = api.watch(path, {"resourceVersion": start}, until=lambda e: len(e) >= 3)
    assert headers["Content-Type"].startswith("application/json")
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]


def test_watch_resumes_after_resource_version(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    api.post(path, cm("a"))
    middle = api.post(path, cm("b"))["metadata"]["resourceVersion"]
    api.post(path, cm("c"))
    events, _ = api.watch(path, {"resourceVersion": middle}, until=lambda e: len(e) >= 1, seconds=2)
    assert [e["object"]["metadata"]["name"] for e in events] == ["c"]


def test_watch_without_version_starts_with_current_state(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    api.post(path, cm("a"))
    events, _ = api.watch(
        path, {"fieldSelector": f"metadata.name!={ROOT_CA}"}, until=lambda e: len(e) >= 1, seconds=3
    )
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["metadata"]["name"] == "a"


def test_watch_with_selector_reports_objects_leaving_it(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    start = api.post(path, cm("a", labels={"app": "x"}))["metadata"]["resourceVersion"]
    api.patch(f"{path}/a", {"metadata": {"labels": {"app": "y"}}})
    events, _ = api.watch(
        path, {"resourceVersion": start, "labelSelector": "app=x"}, until=lambda e: len(e) >= 1, seconds=3
    )
    assert events[0]["type"] == "DELETED"


def test_watch_initial_events_end_with_a_bookmark(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    api.post(path, cm("a"))
    params = {
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
    }
    events, _ = api.watch(path, params, until=lambda e: any(x["type"] == "BOOKMARK" for x in e), seconds=5)
    assert events[0]["type"] == "ADDED"
    bookmark = events[-1]
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true"


def test_watch_timeout_seconds_ends_the_stream(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    start = api.get(path)["metadata"]["resourceVersion"]
    began = time.monotonic()
    api.watch(path, {"resourceVersion": start, "timeoutSeconds": "1"}, seconds=10)
    assert time.monotonic() - began < 5


# ---------------------------------------------------------------- deletion
def test_finalizers_hold_deletion_until_removed(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    api.post(path, cm("f", finalizers=["example.dev/hold"]))
    deleting = api.delete(f"{path}/f")
    assert deleting.status in (200, 202)
    held = api.get(f"{path}/f")
    assert held["metadata"]["deletionTimestamp"]
    refused = api.patch(f"{path}/f", {"metadata": {"finalizers": ["example.dev/hold", "example.dev/new"]}})
    assert refused.status == 422
    api.patch(f"{path}/f", {"metadata": {"finalizers": None}})
    assert api.get(f"{path}/f").status == 404


def _owned(owner: dict[str, Any], name: str, *, block: bool = False) -> dict[str, Any]:
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "blockOwnerDeletion": block,
    }
    return cm(name, ownerReferences=[ref])


def test_garbage_collection_background(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    owner = api.post(path, cm("owner")).body
    api.post(path, _owned(owner, "child"))
    api.delete(f"{path}/owner", {"propagationPolicy": "Background"})
    wait_until(lambda: api.get(f"{path}/child").status == 404)


def test_garbage_collection_foreground(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    owner = api.post(path, cm("owner")).body
    api.post(
        path,
        _owned(owner, "child", block=True)
        | {
            "metadata": {**_owned(owner, "child", block=True)["metadata"], "finalizers": ["example.dev/hold"]}
        },
    )
    api.delete(f"{path}/owner", {"propagationPolicy": "Foreground"})
    wait_until(lambda: bool(api.get(f"{path}/child")["metadata"].get("deletionTimestamp")))
    held = api.get(f"{path}/owner")
    assert "foregroundDeletion" in held["metadata"]["finalizers"]
    api.patch(f"{path}/child", {"metadata": {"finalizers": None}})
    wait_until(lambda: api.get(f"{path}/owner").status == 404)


def test_garbage_collection_orphan(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    owner = api.post(path, cm("owner")).body
    api.post(path, _owned(owner, "child"))
    api.delete(f"{path}/owner", {"propagationPolicy": "Orphan"})
    wait_until(lambda: api.get(f"{path}/owner").status == 404)
    child = api.get(f"{path}/child")
    assert child.status == 200
    assert not child["metadata"].get("ownerReferences")


def test_delete_collection_with_label_selector(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    api.post(path, cm("a", labels={"group": "x"}))
    api.post(path, cm("b", labels={"group": "x"}))
    api.post(path, cm("c", labels={"group": "y"}))
    assert api.delete(path, params={"labelSelector": "group=x"}).status == 200
    # Every namespace also holds kube-root-ca.crt (published by the controller manager).
    grouped = {"labelSelector": "group"}
    wait_until(lambda: sorted(i["metadata"]["name"] for i in api.get(path, params=grouped)["items"]) == ["c"])


def test_namespace_deletion_removes_its_content(api: RawClient) -> None:
    name = f"gone-{int(time.monotonic() * 1000) % 100000}"
    api.post("/api/v1/namespaces", {"metadata": {"name": name}})
    api.post(f"/api/v1/namespaces/{name}/configmaps", cm("a"))
    api.delete(f"/api/v1/namespaces/{name}")
    wait_until(lambda: api.get(f"/api/v1/namespaces/{name}").status == 404, seconds=60)


# ---------------------------------------------------------------- patch formats
def test_merge_patch_null_deletes(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    api.post(path, cm("m", {"a": "1", "b": "2"}))
    patched = api.patch(f"{path}/m", {"data": {"a": None, "c": "3"}})
    assert patched["data"] == {"b": "2", "c": "3"}


def _statefulset(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "a",
                            "image": "img:1",
                            "env": [{"name": "X", "value": "1"}],
                            "ports": [{"containerPort": 80, "name": "http"}],
                        },
                        {"name": "b", "image": "img:1"},
                    ],
                    "volumes": [{"name": "v1", "emptyDir": {}}],
                },
            },
        },
    }


def test_strategic_merge_patch_merges_by_key(api: RawClient, namespace: str) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/statefulsets"
    api.post(path, _statefulset("s"))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "a",
                            "image": "img:2",
                            "env": [{"name": "Y", "value": "2"}],
                            "ports": [{"containerPort": 81, "name": "extra"}],
                        }
                    ],
                    "volumes": [{"name": "v2", "emptyDir": {}}],
                }
            }
        }
    }
    patched = api.patch(f"{path}/s", patch, kind="strategic")
    spec = patched["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["a", "b"]
    assert spec["containers"][0]["image"] == "img:2"
    assert sorted(e["name"] for e in spec["containers"][0]["env"]) == ["X", "Y"]
    assert sorted(p["containerPort"] for p in spec["containers"][0]["ports"]) == [80, 81]
    assert sorted(v["name"] for v in spec["volumes"]) == ["v1", "v2"]
    removal = {"spec": {"template": {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}}}
    removed = api.patch(f"{path}/s", removal, kind="strategic")
    assert [c["name"] for c in removed["spec"]["template"]["spec"]["containers"]] == ["a"]


def test_strategic_merge_patch_is_refused_for_custom_resources(
    api: RawClient, namespace: str, widgets: str
) -> None:
    path = f"{widgets}/namespaces/{namespace}/widgets"
    api.post(path, widget("w"))
    assert api.patch(f"{path}/w", {"spec": {"replicas": 2}}, kind="strategic").status == 415


def test_server_side_apply(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/ssa"
    config = cm("ssa", {"a": "1", "b": "2"})
    created = api.patch(path, config, kind="apply", params={"fieldManager": "alice"})
    assert created.status == 201
    api.patch(path, {"data": {"a": "changed"}}, params={"fieldManager": "bob"})
    conflict = api.patch(path, config, kind="apply", params={"fieldManager": "alice"})
    assert conflict.status == 409
    forced = api.patch(path, config, kind="apply", params={"fieldManager": "alice", "force": "true"})
    assert forced["data"] == {"a": "1", "b": "2"}
    shrunk = api.patch(path, cm("ssa", {"a": "1"}), kind="apply", params={"fieldManager": "alice"})
    assert shrunk["data"] == {"a": "1"}
    managers = {e["manager"] for e in shrunk["metadata"]["managedFields"]}
    assert "alice" in managers


def test_dry_run_persists_nothing(api: RawClient, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    reply = api.post(path, cm("dry"), params={"dryRun": "All"})
    assert reply.status == 201
    assert api.get(f"{path}/dry").status == 404
    api.post(path, cm("real"))
    api.delete(f"{path}/real", params={"dryRun": "All"})
    assert api.get(f"{path}/real").status == 200


# ---------------------------------------------------------------- discovery and CRDs
def test_discovery(api: RawClient, widgets: str) -> None:
    assert "v1" in api.get("/api")["versions"]
    groups = {g["name"] for g in api.get("/apis")["groups"]}
    assert {"apps", "example.dev", "apiextensions.k8s.io"} <= groups
    resources = {r["name"]: r for r in api.get(widgets)["resources"]}
    assert resources["widgets"]["kind"] == "Widget"
    assert resources["widgets"]["namespaced"] is True
    assert "watch" in resources["widgets"]["verbs"]
    assert {"widgets/status", "widgets/scale"} <= set(resources)
    core = {r["name"] for r in api.get("/api/v1")["resources"]}
    assert {"pods", "pods/status", "namespaces", "configmaps", "secrets"} <= core


def test_crd_defaulting_and_pruning(api: RawClient, namespace: str, widgets: str) -> None:
    path = f"{widgets}/namespaces/{namespace}/widgets"
    created = api.post(path, widget("d", unknown="x"))
    assert created["spec"] == {"image": "demo:1", "replicas": 1, "minReplicas": 0, "mode": "Draft"}


def test_crd_schema_validation_is_422_with_field_path(api: RawClient, namespace: str, widgets: str) -> None:
    path = f"{widgets}/namespaces/{namespace}/widgets"
    reply = api.post(path, widget("v", replicas=10, mode="Weird"))
    assert reply.status == 422
    fields = {c["field"] for c in reply["details"]["causes"]}
    assert {"spec.replicas", "spec.mode"} <= fields
    missing = api.post(
        path, {"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "m"}, "spec": {}}
    )
    assert missing.status == 422
    assert "spec.image" in {c["field"] for c in missing["details"]["causes"]}


def test_crd_cel_validation_is_422_with_field_path(api: RawClient, namespace: str, widgets: str) -> None:
    path = f"{widgets}/namespaces/{namespace}/widgets"
    reply = api.post(path, widget("c", replicas=1, minReplicas=3))
    assert reply.status == 422
    causes = reply["details"]["causes"]
    assert causes[0]["field"] == "spec.replicas"
    assert "replicas must be at least minReplicas" in causes[0]["message"]


def test_crd_cel_transition_rule(api: RawClient, namespace: str, widgets: str) -> None:
    path = f"{widgets}/namespaces/{namespace}/widgets"
    api.post(path, widget("t", mode="Live"))
    reply = api.patch(f"{path}/t", {"spec": {"mode": "Frozen"}})
    assert reply.status == 422
    assert "mode can only change from Draft" in reply["message"]
    api.post(path, widget("t2"))
    assert api.patch(f"{path}/t2", {"spec": {"mode": "Live"}}).status == 200


@pytest.mark.parametrize("name", ["Upper", "under_score", "-dash"])
def test_invalid_names_are_422(api: RawClient, namespace: str, name: str) -> None:
    assert api.post(f"/api/v1/namespaces/{namespace}/configmaps", cm(name)).status == 422
