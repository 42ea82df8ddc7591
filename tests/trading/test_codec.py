"""Command and outcome encoding: round trips, and strict rejection of malformed input."""

from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive_runtime.trading.codec import (
    CommandDecodeError,
    decode_command,
    decode_outcome,
    encode_command,
    encode_outcome,
)
from hive_runtime.trading.commands import (
    AddInstrument,
    ExecutionReport,
    NewOrderSingle,
    OrderCancelRequest,
    Outcome,
    SetKillSwitch,
)

identifiers = st.text(min_size=1, max_size=64)
quantities = st.integers(0, 2**63 - 1)


@given(
    st.builds(
        NewOrderSingle,
        quantities,
        identifiers,
        identifiers,
        identifiers,
        st.integers(1, 2),
        st.integers(1, 2),
        quantities,
        quantities,
        st.sampled_from([0, 1, 3, 4]),
        st.booleans(),
    )
)
def test_new_order_round_trip(command: NewOrderSingle) -> None:
    assert decode_command(encode_command(command)) == command


def test_admin_commands_round_trip() -> None:
    for command in (
        AddInstrument(1, "X", 1, 1, 100, 10, 20, 30, 40),
        SetKillSwitch(5, "", True),
        OrderCancelRequest(2, "a", "b", "c", "X"),
    ):
        assert decode_command(encode_command(command)) == command


def test_outcome_round_trip() -> None:
    report = ExecutionReport(1, 2, "c", "", "a", "X", 1, "F", "2", 10, 100, 10, 100, 0, 10, 0, 99)
    outcome = Outcome(0, [report, report])
    assert decode_outcome(encode_outcome(outcome)) == outcome


VALID = [1, 1, 5, "a", "c", "X", 1, 2, 10, 100, 0, False]


@pytest.mark.parametrize(
    "document",
    [
        [2, *VALID[1:]],  # unknown version
        [1, 99, *VALID[2:]],  # unknown type
        VALID[:-1],  # missing field
        [*VALID, 1],  # extra field
        [1, 1, -5, *VALID[3:]],  # negative timestamp
        [1, 1, 5, "", *VALID[4:]],  # empty account
        [1, 1, 5, "a" * 65, *VALID[4:]],  # overlong id
        [1, 1, 5, "a", "c", "X", 1, 2, 10, 100, 0, 1],  # int where a bool belongs
        [1, 1, 5, "a", "c", "X", True, 2, 10, 100, 0, False],  # bool where an int belongs
        [1, 1, 5, "a", "c", "X", 1, 2, 10, 1.5, 0, False],  # float price
        [1, 1, 5, "a", "c", "X", 1, 2, 2**64 - 1, 100, 0, False],  # beyond int64
        {"type": 1},
        "not an array",
    ],
)
def test_malformed_documents_raise_one_exception_type(document: object) -> None:
    with pytest.raises(CommandDecodeError):
        decode_command(msgpack.packb(document))


@given(st.binary(max_size=64))
def test_random_bytes_never_raise_anything_else(data: bytes) -> None:
    with contextlib.suppress(CommandDecodeError):
        decode_command(data)


def test_valid_document_decodes() -> None:
    assert isinstance(decode_command(msgpack.packb(VALID)), NewOrderSingle)
    with pytest.raises(CommandDecodeError):
        decode_command("text")  # type: ignore[arg-type]
