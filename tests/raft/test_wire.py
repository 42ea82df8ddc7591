"""Wire form of messages: msgpack round trips and rejection of malformed frames."""

from __future__ import annotations

import contextlib
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive_runtime.raft import Message, MessageType, SnapshotChunk, WireFormatError
from hive_runtime.raft.types import (
    ConfChange,
    ConfChangeKind,
    ConfState,
    Entry,
    EntryKind,
    SnapshotMeta,
    encode_conf_entry,
)

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


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """Well-formed messages: APPEND entries follow ``index`` contiguously with sane terms."""
    kind = draw(st.sampled_from(MessageType))
    term = draw(naturals)
    log_term = draw(st.integers(min_value=0, max_value=term))
    index = draw(st.integers(min_value=0, max_value=2**62))
    entries: tuple[Entry, ...] = ()
    if kind is MessageType.APPEND:
        terms = sorted(draw(st.lists(st.integers(min_value=log_term, max_value=term), max_size=4)))
        kinds = draw(st.lists(st.sampled_from(EntryKind), min_size=len(terms), max_size=len(terms)))
        datas = draw(st.lists(st.binary(max_size=32), min_size=len(terms), max_size=len(terms)))
        conf = encode_conf_entry(
            ConfChange(ConfChangeKind.ADD_LEARNER, 4), ConfState(frozenset({1, 2}), frozenset({4}))
        )
        entries = tuple(
            Entry(t, index + 1 + i, k, conf if k is EntryKind.CONF_CHANGE else d)
            for i, (t, k, d) in enumerate(zip(terms, kinds, datas, strict=True))
        )
    snapshot = None
    if kind is MessageType.SNAPSHOT:
        chunk = draw(chunks)
        snapshot = SnapshotChunk(
            SnapshotMeta(chunk.meta.index, min(chunk.meta.term, term), chunk.meta.conf_state),
            chunk.offset,
            chunk.data,
            chunk.done,
        )
    return Message(
        kind,
        draw(ids),
        draw(ids),
        term,
        log_term=log_term,
        index=index,
        entries=entries,
        commit=draw(naturals),
        reject=draw(st.booleans()),
        reject_hint=draw(naturals),
        context=draw(st.binary(max_size=16)),
        snapshot=snapshot,
    )


@given(messages())
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
        (12, [1, 1, [1], [], 0, b"", True]),  # a chunk on an APPEND
        (7, [[3, 5, 0, b""]]),  # entry not right after index 0
        (7, [[4, 1, 0, b""]]),  # entry term above the message term
        (1, 8),  # SNAPSHOT without a chunk (and with entries)
        (7, [[3, 1, 1, b"garbage"]]),  # membership change entry that does not decode
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
