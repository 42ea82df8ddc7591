"""The audit trail file: a header, then records and signed checkpoints, as a stream of msgpack arrays.

Layout (each item one msgpack array, appended in order)::

    ["hive-audit", 1, every_records, interval_us, start_state, public_key_raw]   header
    ["R", seq, record_bytes, chain_hash]                                         one per record
    ["C", tree_size, root, chain_head, ts_us, signature]                          one per checkpoint

``start_state`` is the :meth:`AuditChain.state` the file starts from (all zero for a trail that
starts at the first command; a replica restored from a snapshot starts its file where the
snapshot's chain left off). This is where signing happens: the state machine emits identical
unsigned checkpoints on every replica, and each replica's :class:`AuditWriter` signs them with that
replica's key as it writes them. Everything else in the file is identical across replicas.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import msgpack
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hive_runtime.audit.chain import AuditChain, AuditRecord, Checkpoint
from hive_runtime.audit.signing import public_raw, sign_checkpoint

MAGIC = "hive-audit"
FILE_VERSION = 1
RECORD_TAG = "R"
CHECKPOINT_TAG = "C"


def header(
    *, every_records: int, interval_us: int, start_state: list[Any], public_key_raw: bytes
) -> list[Any]:
    return [MAGIC, FILE_VERSION, every_records, interval_us, start_state, public_key_raw]


def _read_header(path: Path) -> tuple[Any, ...] | None:
    unpacker = msgpack.Unpacker(use_list=False, raw=False)
    with open(path, "rb") as handle:
        unpacker.feed(handle.read(4096))
    try:
        first = unpacker.unpack()
    except Exception:
        return None
    if type(first) is not tuple or len(first) != 6 or first[0] != MAGIC:
        return None
    return first


class AuditWriter:
    """Appends the state machine's audit output to a file, signing each checkpoint.

    Create it with ``start_state=machine.audit.state()`` before the machine produces the first
    record this file is to hold (a new machine, or one just restored from a snapshot), so that the
    header records the checkpoint schedule and the starting point; then pass every
    ``machine.take_audit()`` batch to :meth:`write` and call :meth:`flush` when it must be durable.
    """

    def __init__(self, path: str | Path, key: Ed25519PrivateKey, *, start_state: list[Any]) -> None:
        self.path = Path(path)
        self._key = key
        chain = AuditChain.from_state(start_state)
        key_raw = public_raw(key.public_key())
        self._file: BinaryIO = open(self.path, "ab")  # noqa: SIM115 - closed by close()/__exit__
        if self._file.tell() == 0:
            doc = header(
                every_records=chain.every_records,
                interval_us=chain.interval_us,
                start_state=start_state,
                public_key_raw=key_raw,
            )
            self._file.write(msgpack.packb(doc))
        else:
            # Reopening after a restart: the file must have been written with the same schedule
            # and key, or the verifier could not check it as one trail.
            existing = _read_header(self.path)
            if (
                existing is None
                or existing[2:4] != (chain.every_records, chain.interval_us)
                or existing[5] != key_raw
            ):
                self._file.close()
                raise ValueError(
                    f"{self.path}: existing trail has a different schedule or key; start a new file"
                )

    def write(self, entries: list[AuditRecord | Checkpoint]) -> None:
        out = []
        packb = msgpack.packb
        for entry in entries:
            if isinstance(entry, AuditRecord):
                out.append(packb((RECORD_TAG, entry.seq, entry.record, entry.chain)))
            else:
                signature = sign_checkpoint(self._key, entry)
                out.append(
                    packb(
                        (
                            CHECKPOINT_TAG,
                            entry.tree_size,
                            entry.root,
                            entry.chain_head,
                            entry.ts_us,
                            signature,
                        )
                    )
                )
        self._file.write(b"".join(out))

    def flush(self, *, fsync: bool = True) -> None:
        self._file.flush()
        if fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()

    def __enter__(self) -> AuditWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
