"""Verification of an audit trail file: chain, checkpoint schedule, Merkle roots, signatures.

The verifier replays the hash chain and the checkpoint schedule from the header, exactly as the
state machine computed them, and compares with the file. It stops at the FIRST inconsistency and
classifies it:

- ``modified``: a record's bytes do not hash to its stored chain link;
- ``deleted``: a sequence number is missing and never appears later;
- ``reordered``: a sequence number is missing here but appears later in the file;
- ``inserted``: a record repeats a sequence number (the earlier copy is the inserted one when the
  later copy chains correctly from the record before it), or a checkpoint appears where none is due
  (a checkpoint between scheduled ones is allowed only where an audit tick could have emitted it:
  records since the last checkpoint, at least one interval after it, no earlier than the last
  record; see :meth:`~hive_runtime.audit.chain.AuditChain.idle_checkpoint`);
- ``checkpoint``: a checkpoint is missing, or its tree size, Merkle root or chain head differ
  from the records (e.g. an attacker rewrote records and recomputed the unkeyed chain links: the
  signed checkpoint no longer matches; the problem lies after the previous good checkpoint);
- ``signature``: a checkpoint's Ed25519 signature does not verify with the public key;
- ``truncated`` / ``header``: the file ends inside an item, or does not start with a valid header.

Records after the last checkpoint are covered by the chain only; their count is reported as
``unsigned_tail`` (removing them entirely cannot be detected until the next checkpoint exists). A
running cluster checkpoints a quiet trail about one interval after its last record, so a nonzero
tail means records written within about an interval of the end of the file (a crash, or tampering).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

import msgpack
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hive_runtime.audit.chain import AuditChain, Checkpoint
from hive_runtime.audit.records import decode_record
from hive_runtime.audit.signing import key_id, verify_checkpoint
from hive_runtime.audit.trail import CHECKPOINT_TAG, FILE_VERSION, MAGIC, RECORD_TAG


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str
    seq: int | None = None
    position: int | None = None  # index of the item in the file (header = 0)


@dataclass
class VerifyResult:
    records: int = 0
    checkpoints: int = 0
    unsigned_tail: int = 0
    key_id: str = ""
    key_from_file: bool = False
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


def _read_items(data: bytes) -> tuple[list[Any], bool]:
    unpacker = msgpack.Unpacker(use_list=False, raw=False, max_buffer_size=len(data) + 1)
    unpacker.feed(data)
    items: list[Any] = []
    try:
        for item in unpacker:
            items.append(item)
    except Exception:
        return items, True
    return items, unpacker.tell() != len(data)


def verify_trail(path: str | Path, public_key: Ed25519PublicKey | None = None) -> VerifyResult:
    items, truncated = _read_items(Path(path).read_bytes())
    result = VerifyResult()
    if not items or not _valid_header(items[0]):
        result.problem = Problem(
            "header", "the file does not start with a hive-audit version 1 header", position=0
        )
        return result
    _, _, every, interval, start_state, embedded_key = items[0]
    if public_key is None:
        public_key = Ed25519PublicKey.from_public_bytes(embedded_key)
        result.key_from_file = True
        result.notes.append("no --public-key given: signatures checked against the key the file names")
    result.key_id = key_id(public_key)
    try:
        chain = AuditChain.from_state(start_state)
    except (TypeError, ValueError):
        result.problem = Problem("header", "the header's start state is malformed", position=0)
        return result
    if chain.every_records != every or chain.interval_us != interval:
        result.problem = Problem("header", "the header's checkpoint schedule is inconsistent", position=0)
        return result
    result.problem = _walk(items, chain, public_key, result)
    if result.problem is None and truncated:
        result.problem = Problem("truncated", "the file ends inside an item", position=len(items))
    return result


def _valid_header(item: Any) -> bool:
    return (
        type(item) is tuple
        and len(item) == 6
        and item[0] == MAGIC
        and item[1] == FILE_VERSION
        and type(item[5]) is bytes
        and len(item[5]) == 32
    )


def _walk(items: list[Any], chain: AuditChain, key: Ed25519PublicKey, result: VerifyResult) -> Problem | None:
    since_checkpoint = 0
    last_record_us = chain.last_checkpoint_us
    head_before_last = chain.head
    for position in range(1, len(items)):
        item = items[position]
        if type(item) is not tuple or not item:
            return Problem(
                "modified", "an item of the file is not a record or a checkpoint", position=position
            )
        expected = chain.pending[0] if chain.pending else None
        if item[0] == CHECKPOINT_TAG:
            if expected is None and len(item) == 6 and type(item[4]) is int and item[4] >= last_record_us:
                expected = chain.idle_checkpoint(item[4])  # what an audit tick at that time emits, if any
            problem = _check_checkpoint(item, expected, key, position)
            if problem is not None:
                return problem
            chain.pending.clear()
            result.checkpoints += 1
            since_checkpoint = 0
            continue
        if item[0] != RECORD_TAG or len(item) != 4:
            return Problem(
                "modified", "an item of the file is not a record or a checkpoint", position=position
            )
        if isinstance(expected, Checkpoint):
            return Problem(
                "checkpoint",
                f"the checkpoint due after record {expected.tree_size - 1} is missing (deleted)",
                seq=expected.tree_size - 1,
                position=position,
            )
        _, seq, record, stored_chain = item
        problem = _check_record(
            items,
            position,
            seq=seq,
            record=record,
            stored_chain=stored_chain,
            chain=chain,
            head_before_last=head_before_last,
        )
        if problem is not None:
            return problem
        chain.pending.clear()
        try:
            ts_us = decode_record(record).ts_us
        except ValueError:
            return Problem(
                "modified", f"record {seq} is not a well-formed audit record", seq=seq, position=position
            )
        previous_head = head_before_last = chain.head
        last_record_us = max(last_record_us, ts_us)
        chain.append(record, ts_us)
        if chain.head != stored_chain:  # cannot happen after _check_record; kept as a guard
            chain.head = previous_head
            return Problem(
                "modified", f"record {seq} does not match its chain link", seq=seq, position=position
            )
        chain.pending = [entry for entry in chain.pending if isinstance(entry, Checkpoint)]
        result.records += 1
        since_checkpoint += 1
    if chain.pending:
        result.notes.append("the file ends before the checkpoint due after its last record")
    result.unsigned_tail = since_checkpoint
    return None


def _check_record(
    items: list[Any],
    position: int,
    *,
    seq: Any,
    record: Any,
    stored_chain: Any,
    chain: AuditChain,
    head_before_last: bytes,
) -> Problem | None:
    expected_seq = chain.size
    if type(record) is not bytes or type(stored_chain) is not bytes or type(seq) is not int:
        return Problem("modified", f"item {position} is not a well-formed record", position=position)
    leaf = sha256(b"\x00" + record).digest()
    if seq == expected_seq:
        if sha256(chain.head + leaf).digest() != stored_chain:
            return Problem(
                "modified", f"record {seq} was modified (its hash does not chain)", seq=seq, position=position
            )
        return None
    if seq > expected_seq:
        later = any(
            type(i) is tuple and len(i) == 4 and i[0] == RECORD_TAG and i[1] == expected_seq
            for i in items[position:]
        )
        if later:
            return Problem(
                "reordered",
                f"record {expected_seq} appears after record {seq} (records reordered)",
                seq=expected_seq,
                position=position,
            )
        return Problem(
            "deleted",
            f"record {expected_seq} is missing (deleted before record {seq})",
            seq=expected_seq,
            position=position,
        )
    # seq < expected: a repeated sequence number. If this copy chains from the record before it,
    # it is the original and the copy just before it was inserted; otherwise this one was.
    leaf_chains = sha256(head_before_last + leaf).digest() == stored_chain
    if seq == expected_seq - 1 and leaf_chains:
        return Problem(
            "inserted",
            f"a record was inserted before record {seq} (item {position - 1} repeats its sequence number)",
            seq=seq,
            position=position - 1,
        )
    return Problem("inserted", f"item {position} repeats record {seq} (inserted)", seq=seq, position=position)


def _check_checkpoint(item: Any, expected: Any, key: Ed25519PublicKey, position: int) -> Problem | None:
    if len(item) != 6:
        return Problem("checkpoint", "a checkpoint item is malformed", position=position)
    _, tree_size, root, head, ts_us, signature = item
    if not isinstance(expected, Checkpoint):
        return Problem("inserted", "a checkpoint appears where none is due (inserted)", position=position)
    claimed = Checkpoint(tree_size, root, head, ts_us)
    if claimed != expected:
        return Problem(
            "checkpoint",
            f"checkpoint at tree size {tree_size} does not match the records: records after the previous "
            "checkpoint were altered (rewritten, inserted, deleted or reordered with recomputed links)",
            seq=expected.tree_size - 1,
            position=position,
        )
    if type(signature) is not bytes or not verify_checkpoint(key, claimed, signature):
        return Problem(
            "signature", f"checkpoint at tree size {tree_size} has an invalid signature", position=position
        )
    return None
