"""Wire form of messages: msgpack round trips and rejection of malformed frames."""

from __future__ import annotations

import contextlib
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive_runtime.raft import Message, MessageType, SnapshotChunk, WireFormatError
from hive_runtime.raft.types import ConfState, Entry, EntryKind, SnapshotMeta

ids = st.integers(min_value=1, max_value=2**63 - 1)
naturals = st.integers(min_value=0, max_value=2**63 - 1)
entries = st.builds(
    Entry,
    term=naturals,
    index=ids,
    kind=st.sampled_from(EntryKind),
    data=st.binary(max_size=64),
)
chunks = st.builds(
    SnapshotChunk,
    meta=st.builds(
        SnapshotMeta,
        index=naturals,
        term=naturals,
        conf_state=st.builds(
            ConfState, voters=st.frozensets(ids, max_size=5), learners=st.frozensets(ids, max_size=3)
        ),
    ),
    offset=naturals,
    data=st.binary(max_size=64),
    done=st.booleans(),
)
messages = st.builds(
    Message,
    type=st.sampled_from(MessageType),
    sender=ids,
    to=ids,
    term=naturals,
    log_term=naturals,
    index=naturals,
    entries=st.lists(entries, max_size=4).map(tuple),
    commit=naturals,
    reject=st.booleans(),
    reject_hint=naturals,
    context=st.binary(max_size=16),
    snapshot=st.none() | chunks,
)


@given(messages)
def test_messages_survive_a_msgpack_round_trip(message: Message) -> None:
    frame = msgpack.packb(message.to_wire())
    assert Message.from_wire(msgpack.unpackb(frame)) == message


def _valid() -> list[Any]:
    return Message(MessageType.APPEND, 1, 2, 3, entries=(Entry(3, 4, EntryKind.NORMAL, b"x"),)).to_wire()


@pytest.mark.parametrize(
    ("position", "bad_value"),
    [
        (0, 99),  # unknown version
        (1, 200),  # unknown message type
        (2, 0),  # sender 0 is not a node id
        (3, -1),  # negative receiver
        (4, "3"),  # term not an int
        (7, "entries"),  # entries not an array
        (7, [[1, 2, 3]]),  # entry of the wrong length
        (7, [[1, 0, 0, b""]]),  # entry index 0
        (7, [[1, 1, 7, b""]]),  # unknown entry kind
        (9, 1),  # reject must be a bool
        (11, "text"),  # context must be bytes
        (12, [1, 2]),  # malformed snapshot chunk
        (4, True),  # bools are not ints on the wire
        (6, 2**64),  # beyond 64 bits
    ],
)
def test_malformed_frames_raise_wire_format_error(position: int, bad_value: Any) -> None:
    wire = _valid()
    wire[position] = bad_value
    with pytest.raises(WireFormatError):
        Message.from_wire(wire)


@given(
    st.recursive(st.none() | st.integers() | st.binary() | st.text() | st.booleans(), st.lists, max_leaves=20)
)
def test_arbitrary_input_never_crashes_beyond_wire_format_error(value: Any) -> None:
    with contextlib.suppress(WireFormatError):
        Message.from_wire(value)
