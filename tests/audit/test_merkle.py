"""RFC 6962 Merkle hashing: the incremental frontier agrees with the recursive definition."""

from __future__ import annotations

from hashlib import sha256

from hive_runtime.audit.merkle import EMPTY_ROOT, MerkleFrontier, leaf_hash, merkle_root, node_hash


def test_known_small_trees() -> None:
    a, b, c = (leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert a == sha256(b"\x00a").digest()
    assert merkle_root([]) == EMPTY_ROOT == sha256(b"").digest()
    assert merkle_root([a]) == a
    assert merkle_root([a, b, c]) == node_hash(node_hash(a, b), c)


def test_frontier_root_equals_recursive_root_at_every_size() -> None:
    leaves = [leaf_hash(str(i).encode()) for i in range(70)]
    frontier = MerkleFrontier()
    assert frontier.root() == EMPTY_ROOT
    for size, leaf in enumerate(leaves, start=1):
        frontier.append(leaf)
        assert frontier.root() == merkle_root(leaves[:size])
        assert len(frontier.stack) == bin(size).count("1")
