"""Log compaction and chunked snapshot installation (Raft paper §7, thesis §5)."""

from __future__ import annotations

from hive_sim.raft_sim.memory_cluster import MemoryCluster

from hive_runtime.raft import MessageType
from hive_runtime.raft.types import EntryKind


def _compact(cluster: MemoryCluster, node_id: int, data: bytes) -> None:
    node = cluster.nodes[node_id]
    storage = cluster.storage[node_id]
    storage.create_snapshot(node.log.applied, node.conf, data)
    storage.compact(node.log.applied)


def test_lagging_follower_is_caught_up_with_a_chunked_snapshot() -> None:
    # §7: "the leader uses a new RPC called InstallSnapshot to send snapshots to followers that
    # are too far behind"; thesis §5.3 sends it in chunks.
    cluster = MemoryCluster(3, snapshot_chunk_bytes=10)
    leader = cluster.elect(1)
    cluster.down.add(3)
    for value in range(30):
        leader.propose(b"%d" % value)
    cluster.stabilize()
    _compact(cluster, 1, b"state-machine-image-" * 5)
    assert cluster.storage[1].first_index() > 2
    cluster.down.discard(3)
    for _ in range(5):
        cluster.tick()
    chunks = [m for m in cluster.sent if m.type is MessageType.SNAPSHOT and m.to == 3]
    assert len(chunks) >= 10 and chunks[-1].snapshot is not None and chunks[-1].snapshot.done
    follower = cluster.nodes[3]
    assert cluster.storage[3].snapshot().data == b"state-machine-image-" * 5
    assert follower.log.committed == leader.log.committed
    assert follower.log.last_index() == leader.log.last_index()
    # Entries after the snapshot still replicate normally.
    leader.propose(b"after")
    cluster.stabilize()
    cluster.tick(2)
    assert cluster.applied[3][-1].data == b"after"


def test_lost_chunk_is_resent_and_installation_completes() -> None:
    cluster = MemoryCluster(3, snapshot_chunk_bytes=4)
    leader = cluster.elect(1)
    cluster.down.add(3)
    for value in range(10):
        leader.propose(b"%d" % value)
    cluster.stabilize()
    _compact(cluster, 1, b"0123456789abcdef")
    cluster.down.discard(3)
    dropped: list[int] = []

    def lose_second_chunk(message: object) -> bool:
        chunk = getattr(message, "snapshot", None)
        if chunk is not None and chunk.offset == 4 and not dropped:
            dropped.append(chunk.offset)
            return False
        return True

    cluster.allow = lose_second_chunk  # type: ignore[assignment]
    for _ in range(6):
        cluster.tick()
    assert dropped == [4]
    assert cluster.storage[3].snapshot().data == b"0123456789abcdef"


def test_follower_with_matching_entry_only_fast_forwards_commit() -> None:
    # §7: "If the follower has an entry matching the snapshot's last index and term, it keeps
    # the log entries that follow".
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    for value in range(5):
        leader.propose(b"%d" % value)
    cluster.stabilize()
    from hive_runtime.raft.follower import restore
    from hive_runtime.raft.types import Snapshot, SnapshotMeta

    follower = cluster.nodes[2]
    last = follower.log.last_index()
    follower.log.committed = 1
    meta = SnapshotMeta(3, follower.log.term(3) or 0, follower.conf)
    assert not restore(follower, Snapshot(meta, b""))
    assert follower.log.committed == 3 and follower.log.last_index() == last


def test_restarted_node_resumes_from_its_snapshot() -> None:
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    for value in range(8):
        leader.propose(b"%d" % value)
    cluster.stabilize()
    cluster.tick(1)
    _compact(cluster, 2, b"image")
    restarted = cluster.restart(2)
    assert restarted.log.applied == cluster.storage[2].snapshot().meta.index
    assert restarted.log.first_index() == cluster.storage[2].snapshot().meta.index + 1
    leader.propose(b"more")
    cluster.stabilize()
    cluster.tick(1)
    assert [e.data for e in cluster.applied[2] if e.kind is EntryKind.NORMAL][-1] == b"more"
