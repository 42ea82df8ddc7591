"""kopf's own machinery against the test bed: create, update and delete with its finalizer, status patches.

kopf runs with event posting on and logs in with the bed's admin kubeconfig, as the operator will:
its finalizer, JSON-patch ``test`` operations and status patches go through the real API server.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import kopf
import pytest

from hive_testbed.rawclient import RawClient

FINALIZER = "example.dev/kopf-test"


def wait_until(predicate: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def operator(
    cluster: Any, namespace: str, widgets: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """A minimal kopf operator for widgets in ``namespace``; yields the names its delete handler saw."""
    registry = kopf.OperatorRegistry()
    deleted: list[str] = []

    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.watching.server_timeout = 30
        settings.posting.enabled = True

    @kopf.on.create("example.dev", "v1", "widgets", registry=registry)
    def created(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        patch.status["phase"] = "Created"
        kopf.info(body, reason="WidgetCreated", message="widget accepted")

    @kopf.on.update("example.dev", "v1", "widgets", registry=registry)
    def updated(spec: kopf.Spec, patch: kopf.Patch, **_: Any) -> None:
        patch.status["phase"] = "Updated"
        patch.status["replicas"] = spec["replicas"]

    @kopf.on.delete("example.dev", "v1", "widgets", registry=registry)
    def removed(name: str, **_: Any) -> None:
        deleted.append(name)

    stop = threading.Event()
    ready = threading.Event()

    def run() -> None:
        asyncio.run(
            kopf.operator(
                registry=registry, standalone=True, namespaces=[namespace], stop_flag=stop, ready_flag=ready
            )
        )

    thread = threading.Thread(target=run, name="kopf-operator", daemon=True)
    thread.start()
    assert ready.wait(20), "kopf did not start"
    try:
        yield deleted
    finally:
        stop.set()
        thread.join(20)


def test_kopf_handles_create_update_delete(
    api: RawClient, namespace: str, widgets: str, operator: list[str]
) -> None:
    path = f"{widgets}/namespaces/{namespace}/widgets"
    api.post(
        path,
        {
            "apiVersion": "example.dev/v1",
            "kind": "Widget",
            "metadata": {"name": "k"},
            "spec": {"image": "demo:1", "replicas": 1},
        },
    )
    wait_until(lambda: api.get(f"{path}/k").body.get("status", {}).get("phase") == "Created")
    handled = api.get(f"{path}/k")
    assert FINALIZER in handled["metadata"]["finalizers"]
    assert handled["metadata"]["generation"] == 1  # kopf's status patch did not count as a spec change
    assert handled["spec"] == {"image": "demo:1", "replicas": 1, "minReplicas": 0, "mode": "Draft"}

    def posted() -> dict[str, str]:
        items = api.get(f"/api/v1/namespaces/{namespace}/events").body.get("items") or []
        return {e["reason"]: e["message"] for e in items if e["involvedObject"]["name"] == "k"}

    # An event the handler posts through kopf reaches the API (posting is on, as in the operator).
    try:
        wait_until(lambda: "WidgetCreated" in posted(), seconds=30)
    except AssertionError as exc:
        raise AssertionError(f"events for k: {posted()}") from exc
    assert posted()["WidgetCreated"] == "widget accepted"

    api.patch(f"{path}/k", {"spec": {"replicas": 3}})
    wait_until(lambda: api.get(f"{path}/k").body.get("status", {}).get("phase") == "Updated")
    updated = api.get(f"{path}/k")
    assert updated["status"]["replicas"] == 3
    assert updated["spec"]["replicas"] == 3
    assert updated["metadata"]["generation"] == 2

    api.delete(f"{path}/k")
    wait_until(lambda: api.get(f"{path}/k").status == 404)
    assert operator == ["k"]
