"""The frame codec: round trips, incremental decoding, and a clear error for every bad input."""

from __future__ import annotations

import struct

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hive_runtime.transport import PROTOCOL_VERSION, Frame, FrameDecoder, FrameError, encode_frame

payloads = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.text(max_size=20)
    | st.binary(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(kind=st.text(min_size=1, max_size=10), payload=payloads, chunk=st.integers(1, 17))
def test_round_trip_in_any_chunking(kind: str, payload: object, chunk: int) -> None:
    wire = encode_frame(Frame(kind, payload)) * 3
    decoder = FrameDecoder()
    frames: list[Frame] = []
    for start in range(0, len(wire), chunk):
        frames.extend(decoder.feed(wire[start : start + chunk]))
    assert frames == [Frame(kind, payload)] * 3
    assert decoder.buffered == 0


def _raw(version: int, body: bytes) -> bytes:
    return struct.pack(">I", len(body) + 1) + bytes([version]) + body


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (struct.pack(">I", 10_000_000), "oversized"),
        (_raw(2, msgpack.packb(["x", 1])), "unknown_version"),
        (_raw(PROTOCOL_VERSION, b"\xc1"), "malformed"),  # 0xc1 is never valid msgpack
        (_raw(PROTOCOL_VERSION, msgpack.packb({"kind": "x"})), "malformed"),
        (_raw(PROTOCOL_VERSION, msgpack.packb([1, 2])), "malformed"),
        (_raw(PROTOCOL_VERSION, msgpack.packb(["x", 1]) + b"\x00"), "malformed"),
        (struct.pack(">I", 0), "malformed"),
    ],
)
def test_bad_input_names_its_reason(wire: bytes, reason: str) -> None:
    decoder = FrameDecoder(max_frame_size=1024 * 1024)
    with pytest.raises(FrameError) as raised:
        decoder.feed(wire)
    assert raised.value.reason == reason
    with pytest.raises(FrameError):  # a failed decoder stays failed
        decoder.feed(encode_frame(Frame("ok")))


def test_oversized_frame_is_refused_before_it_is_buffered() -> None:
    decoder = FrameDecoder(max_frame_size=100)
    with pytest.raises(FrameError, match="oversized"):
        decoder.feed(struct.pack(">I", 101))
    with pytest.raises(FrameError, match="oversized"):
        encode_frame(Frame("big", b"x" * 200), max_frame_size=100)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_ever_raise_frame_error(data: bytes) -> None:
    decoder = FrameDecoder(max_frame_size=4096)
    try:
        frames = decoder.feed(data)
    except FrameError as error:
        assert error.reason in {"oversized", "unknown_version", "malformed"}
    else:
        assert all(isinstance(frame.kind, str) for frame in frames)
