"""The wire format shared by peer and client ports: pure framing, bytes in, frames out.

A frame is ``length:u32be | version:u8 | body`` where ``length`` counts the version byte and the
body, and ``body`` is msgpack ``[kind: str, payload]``. Decoding raises :class:`FrameError` with a
``reason`` (``oversized``, ``unknown_version``, ``malformed``) that the server uses as a metric
label before it closes the connection; a decoder that has raised stays unusable.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

import msgpack

PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME_SIZE = 4 * 1024 * 1024
_LENGTH = struct.Struct(">I")


class FrameError(Exception):
    """A peer sent bytes that are not a valid frame; ``reason`` is a short metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class Frame(NamedTuple):
    """One message: ``kind`` selects the handler, ``payload`` is any msgpack value.

    A named tuple rather than a frozen dataclass: it is built once per frame on the hot path.
    """

    kind: str
    payload: Any = None


def encode_frame(frame: Frame, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    body: bytes = msgpack.packb([frame.kind, frame.payload], use_bin_type=True)
    length = len(body) + 1
    if length > max_frame_size:
        raise FrameError("oversized", f"frame of {length} bytes exceeds {max_frame_size}")
    return _LENGTH.pack(length) + bytes([PROTOCOL_VERSION]) + body


def decode_body(version: int, body: bytes) -> Frame:
    if version != PROTOCOL_VERSION:
        raise FrameError("unknown_version", f"version {version}, this node speaks {PROTOCOL_VERSION}")
    try:
        decoded = msgpack.unpackb(body, raw=False, strict_map_key=False, use_list=True)
    except (ValueError, TypeError, UnicodeDecodeError, msgpack.UnpackException) as error:
        raise FrameError("malformed", f"undecodable body: {type(error).__name__}") from None
    if not (isinstance(decoded, list) and len(decoded) == 2 and isinstance(decoded[0], str)):
        raise FrameError("malformed", "body is not [kind, payload]")
    return Frame(kind=decoded[0], payload=decoded[1])


class FrameDecoder:
    """Incremental decoder for one connection's byte stream."""

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._failed: FrameError | None = None

    def feed(self, data: bytes) -> list[Frame]:
        """Frames completed by ``data`` (possibly none); raises :class:`FrameError` on bad input.

        Frames are parsed at an offset into the buffer, which is compacted once per call, so a
        read holding thousands of small frames costs linear, not quadratic, time.
        """
        if self._failed is not None:
            raise self._failed
        self._buffer += data
        buffer = self._buffer
        frames: list[Frame] = []
        offset = 0
        try:
            while len(buffer) - offset >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(buffer, offset)
                if length > self.max_frame_size:
                    raise FrameError("oversized", f"frame of {length} bytes exceeds {self.max_frame_size}")
                if length == 0:
                    raise FrameError("malformed", "empty frame")
                end = offset + _LENGTH.size + length
                if len(buffer) < end:
                    break
                version = buffer[offset + _LENGTH.size]
                body = bytes(buffer[offset + _LENGTH.size + 1 : end])
                offset = end
                frames.append(decode_body(version, body))
        except FrameError as error:
            self._failed = error
            raise
        finally:
            if offset:
                del buffer[:offset]
        return frames

    @property
    def buffered(self) -> int:
        return len(self._buffer)
