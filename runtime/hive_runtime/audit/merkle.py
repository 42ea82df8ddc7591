"""RFC 6962 (Certificate Transparency) Merkle tree hashing, incremental and from a list of leaves.

Leaf hash ``SHA-256(0x00 || entry)``, interior node ``SHA-256(0x01 || left || right)``, the tree of
n leaves splits at the largest power of two smaller than n, the empty tree hashes to
``SHA-256("")``. :class:`MerkleFrontier` keeps only the roots of the perfect subtrees (one per set
bit of the size), so appending is amortised O(1) and the root is O(log n).
"""

from __future__ import annotations

from hashlib import sha256

EMPTY_ROOT = sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


class MerkleFrontier:
    """Incremental RFC 6962 tree: append leaf hashes, ask for the root at any size."""

    __slots__ = ("size", "stack")

    def __init__(self, size: int = 0, stack: list[bytes] | None = None) -> None:
        self.size = size
        self.stack: list[bytes] = stack if stack is not None else []

    def append(self, leaf: bytes) -> None:
        stack = self.stack
        node = leaf
        n = self.size
        while n & 1:
            node = sha256(b"\x01" + stack.pop() + node).digest()
            n >>= 1
        stack.append(node)
        self.size += 1

    def root(self) -> bytes:
        stack = self.stack
        if not stack:
            return EMPTY_ROOT
        node = stack[-1]
        for left in reversed(stack[:-1]):
            node = node_hash(left, node)
        return node


def merkle_root(leaves: list[bytes]) -> bytes:
    """Root of the tree over ``leaves`` (leaf hashes), by the recursive RFC 6962 definition."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    split = 1
    while split * 2 < n:
        split *= 2
    return node_hash(merkle_root(leaves[:split]), merkle_root(leaves[split:]))
