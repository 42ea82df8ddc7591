"""Transport of a runtime node: msgpack frames over mutual TLS 1.3, for peers and clients.

See docs/runtime-internals.md for the frame format and the identity rules.
"""

from hive_runtime.identity import Identity, IdentityError, Role
from hive_runtime.transport.access import AccessDenied, AccessPolicy, peer_identity
from hive_runtime.transport.connection import ConnectionClosed, FrameConnection, OutputCoalescer, connect
from hive_runtime.transport.frames import (
    DEFAULT_MAX_FRAME_SIZE,
    PROTOCOL_VERSION,
    Frame,
    FrameDecoder,
    FrameError,
    encode_frame,
)
from hive_runtime.transport.metrics import TransportMetrics
from hive_runtime.transport.peers import Backoff, PeerLink
from hive_runtime.transport.server import FrameHandler, FrameServer, UnsupportedEventLoopError

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "PROTOCOL_VERSION",
    "AccessDenied",
    "AccessPolicy",
    "Backoff",
    "ConnectionClosed",
    "Frame",
    "FrameConnection",
    "FrameDecoder",
    "FrameError",
    "FrameHandler",
    "FrameServer",
    "Identity",
    "IdentityError",
    "OutputCoalescer",
    "PeerLink",
    "Role",
    "TransportMetrics",
    "UnsupportedEventLoopError",
    "connect",
    "encode_frame",
    "peer_identity",
]
