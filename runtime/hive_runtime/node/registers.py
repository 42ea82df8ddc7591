"""The register space: a small replicated key-value machine for tests and benchmarks only.

Put and compare-and-set on at most ``MAX_REGISTER_KEYS`` keys. It lets the consensus benchmark
measure replication apart from the trading engine, and lets real-process tests record register
histories that the linearizability checker verifies, as the simulators do. It is not trading
state: a production node runs without it. It exists only when the node's ``register_space``
setting is on (``hive local up``, tests and benchmarks turn it on; the operator never renders
it), and a node without it refuses register requests at the client port and applies a register
entry that reaches it anyway as a refusal that changes nothing.
"""

from __future__ import annotations

from typing import Any

import msgpack

MAX_REGISTER_KEYS = 1024


def _pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value)
    return packed


def encode_register_result(*, ok: bool, value: Any) -> bytes:
    """``[ok, value]``, the outcome shape of every non-trading entry (see node.state)."""
    return _pack([ok, value])


class RegisterSpace:
    """Deterministic: the same operations in the same order give the same registers."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def apply(self, payload: bytes) -> bytes:
        try:
            op, key, value, expected = msgpack.unpackb(payload, raw=False)
            if not isinstance(key, str) or op not in ("put", "cas"):
                raise ValueError("bad register operation")
        except Exception:
            return encode_register_result(ok=False, value="invalid register operation")
        if key not in self.values and len(self.values) >= MAX_REGISTER_KEYS:
            return encode_register_result(ok=False, value="register space full")
        if op == "cas" and self.values.get(key) != expected:
            return encode_register_result(ok=False, value=self.values.get(key))
        self.values[key] = value
        return encode_register_result(ok=True, value=value)

    def read(self, key: str) -> Any:
        return self.values.get(key)

    def snapshot_value(self) -> list[tuple[str, Any]]:
        return sorted(self.values.items())

    def restore(self, items: Any) -> None:
        self.values = dict((key, value) for key, value in items)
