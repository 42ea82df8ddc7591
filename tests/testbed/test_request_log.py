"""The emulator's request log: how operator tests assert that a no-op reconcile makes zero API writes."""

from __future__ import annotations

from typing import Any

from hive_testbed.rawclient import RawClient


def test_write_log_counts_only_mutations(api: RawClient, cluster: Any, namespace: str) -> None:
    """The emulator's request log lets operator tests assert that a no-op reconcile writes nothing."""
    server = cluster.emulator.api
    before = len(server.request_log()) and server.request_log()[-1].id + 1
    api.get(f"/api/v1/namespaces/{namespace}/configmaps")
    assert cluster.emulator.call(lambda: server.writes(since=before)) == []
    api.post(f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "w"}})
    writes = cluster.emulator.call(lambda: server.writes(since=before, user_agent="python-urllib3"))
    assert [(str(w.method.value), w.resource.plural) for w in writes] == [("POST", "configmaps")]


def test_kmock_reactions_inject_faults_ahead_of_the_emulation(
    api: RawClient, cluster: Any, namespace: str
) -> None:
    import kmock

    server = cluster.emulator.api
    path = f"/api/v1/namespaces/{namespace}/configmaps"

    def inject() -> None:
        # kmock slices count the whole request history: scope the reaction to this test's namespace
        server["post", kmock.resource("", "v1", "configmaps"), kmock.namespace(namespace)][:1] << 503

    cluster.emulator.call(inject)
    assert api.post(path, {"metadata": {"name": "x"}}).status == 503
    assert api.post(path, {"metadata": {"name": "x"}}).status == 201
