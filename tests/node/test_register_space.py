"""The register space is a separate machine that exists only when asked for: a production state
machine (the default) holds trading state only and applies a register entry, should one ever
reach it, as a refusal that changes nothing."""

from __future__ import annotations

import pytest

from hive_runtime.node.state import (
    NodeStateMachine,
    batch_entry,
    decode_register_result,
    register_cas,
    register_put,
)


def test_without_the_register_space_a_register_entry_changes_nothing() -> None:
    machine = NodeStateMachine()
    assert machine.registers is None
    before = machine.digest()
    refused = (False, "register space disabled")
    assert decode_register_result(machine.apply(1, register_put("k", 1))) == refused
    outcomes = machine.apply_batch(2, batch_entry([register_cas("k", expected=None, value=2)]))
    assert [decode_register_result(outcome) for outcome in outcomes] == [refused]
    machine.applied_index = 0  # the digest covers the applied index; compare the state alone
    assert machine.digest() == before
    assert machine.read_register("k") is None


def test_with_the_register_space_registers_are_replicated_state() -> None:
    machine = NodeStateMachine(register_space=True)
    assert decode_register_result(machine.apply(1, register_put("k", 1))) == (True, 1)
    copy = NodeStateMachine(register_space=True)
    copy.restore(machine.snapshot())
    assert copy.read_register("k") == 1 and copy.digest() == machine.digest()


def test_a_snapshot_with_registers_is_refused_by_a_node_without_the_register_space() -> None:
    machine = NodeStateMachine(register_space=True)
    machine.apply(1, register_put("k", 1))
    with pytest.raises(ValueError, match="register space is disabled"):
        NodeStateMachine().restore(machine.snapshot())
