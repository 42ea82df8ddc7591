"""Cluster versions, pure parts: ordering, the replicated state, what the leader proposes and admits."""

from __future__ import annotations

import msgpack
import pytest

from hive_runtime.node.state import NodeStateMachine, audit_tick_entry, batch_entry
from hive_runtime.node.versions import (
    AUDIT_TICK,
    RISK_DEFAULTS,
    ClusterVersionState,
    lowest,
    older_than_cluster,
    version_key,
    versions_entry,
)


def test_versions_order_as_semver() -> None:
    ordered = ["0.0.9", "0.1.0-rc.1", "0.1.0-rc.2", "0.1.0", "0.1.1", "0.10.0", "1.0.0"]
    keys = [version_key(text) for text in ordered]
    assert all(key is not None for key in keys)
    assert sorted(ordered, key=lambda text: version_key(text) or ()) == ordered
    assert version_key("latest") is None and version_key("1.2") is None
    assert lowest(["0.1.0", "0.0.9", "1.0.0"]) == "0.0.9"
    assert lowest(["0.1.0", "dev"]) is None  # a member that cannot be compared admits nothing new
    assert lowest([]) is None


def test_nothing_new_is_admitted_before_the_first_versions_entry() -> None:
    state = ClusterVersionState()
    assert not state.admits(AUDIT_TICK) and not state.admits(RISK_DEFAULTS)
    assert state.admits("trading")  # base types are always admitted


def test_cluster_version_is_the_lowest_member_and_never_goes_down() -> None:
    machine = NodeStateMachine()
    machine.apply(1, versions_entry({1: "0.1.0", 2: "0.1.0", 3: "0.0.9"}, "0.0.9"))
    assert machine.versions.cluster_version == "0.0.9"
    assert not machine.versions.admits(AUDIT_TICK)
    machine.apply(2, versions_entry({1: "0.1.0", 2: "0.1.0", 3: "0.1.0"}, "0.1.0"))
    assert machine.versions.admits(AUDIT_TICK)
    # An older member joining later does not lower it (the log may hold 0.1.0 entries already).
    wanted = machine.versions.wanted(
        {1: "0.1.0", 2: "0.1.0", 3: "0.1.0", 4: "0.0.9"}, frozenset({1, 2, 3, 4})
    )
    assert wanted is not None and machine.versions.next_cluster_version(wanted) == "0.1.0"
    machine.apply(3, versions_entry(wanted, "0.0.9"))  # even a proposal that tries
    assert machine.versions.cluster_version == "0.1.0"
    assert machine.versions.members[4] == "0.0.9"
    assert older_than_cluster("0.0.9", "0.1.0") and not older_than_cluster("0.1.0", "0.1.0")


def test_the_leader_proposes_only_with_every_member_known_and_something_changed() -> None:
    state = ClusterVersionState()
    assert state.wanted({1: "0.1.0", 2: "0.1.0"}, frozenset({1, 2, 3})) is None  # 3 unknown
    wanted = state.wanted({1: "0.1.0", 2: "0.1.0", 3: "0.1.0", 9: "9.9.9"}, frozenset({1, 2, 3}))
    assert wanted == {1: "0.1.0", 2: "0.1.0", 3: "0.1.0"}  # a non-member is left out
    state.apply(versions_entry(wanted, state.next_cluster_version(wanted))[1:])
    assert state.wanted({1: "0.1.0", 2: "0.1.0", 3: "0.1.0"}, frozenset({1, 2, 3})) is None
    assert state.wanted({1: "0.1.0", 2: "0.1.0"}, frozenset({1, 2})) == {1: "0.1.0", 2: "0.1.0"}


def test_versions_live_in_the_snapshot_and_old_snapshots_still_restore() -> None:
    machine = NodeStateMachine()
    machine.apply_batch(1, batch_entry([versions_entry({1: "0.1.0"}, "0.1.0"), audit_tick_entry(5)]))
    copy = NodeStateMachine()
    copy.restore(machine.snapshot())
    assert copy.versions.cluster_version == "0.1.0" and copy.digest() == machine.digest()
    old = msgpack.unpackb(machine.snapshot(), raw=False)[:5]  # the document before cluster versions
    older = NodeStateMachine()
    older.restore(msgpack.packb(old))
    assert older.versions.cluster_version is None


@pytest.mark.parametrize(
    "payload", [b"", b"\xc1", msgpack.packb([[["1", "0.1.0"]], "0.1.0"]), msgpack.packb([[], "nope"])]
)
def test_a_malformed_versions_entry_changes_nothing(payload: bytes) -> None:
    machine = NodeStateMachine()
    machine.apply(1, versions_entry({1: "0.1.0"}, "0.1.0"))
    before = machine.versions.snapshot_value()
    machine.apply(2, bytes([5]) + payload)
    assert machine.versions.snapshot_value() == before
    assert machine.versions.cluster_version == "0.1.0" and machine.versions.members == {1: "0.1.0"}
