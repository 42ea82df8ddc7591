"""``GET /status`` never serialises or hashes the state: it is built on a real node object whose
state machine refuses to be serialised."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive_cli.local.cluster import LocalCluster
from hive_runtime.config import load_config
from hive_runtime.node.app import RuntimeNode
from hive_runtime.node.state import NodeStateMachine
from hive_runtime.node.status import node_status


async def test_status_does_not_serialise_the_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = LocalCluster(tmp_path, replicas=1)
    node = RuntimeNode(load_config(cluster.nodes[1].config_path))
    try:

        def refuse(_: NodeStateMachine) -> bytes:
            raise AssertionError("GET /status serialised the state")

        monkeypatch.setattr(NodeStateMachine, "snapshot", refuse)
        monkeypatch.setattr(NodeStateMachine, "digest", refuse)
        status = node_status(node)
        assert status.node_id == 1 and status.latest_digest is None
        assert status.secrets == {} and len(status.ca_bundle_fingerprint) == 64
    finally:
        node.storage.close()


def test_status_names_every_entry_type_the_state_machine_applies() -> None:
    from hive_runtime.node import state
    from hive_runtime.node.status import ENTRY_TAGS

    tags = {
        value[0] for name, value in vars(state).items() if name.endswith("_TAG") and isinstance(value, bytes)
    }
    assert set(ENTRY_TAGS.values()) == tags, "a new entry type must be listed in node/status.py"
