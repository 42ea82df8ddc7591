"""Backups: a snapshot of committed state, encrypted at rest, with a checksum and a digest.

File format: ``HIVEBKP1`` magic, a 12-byte nonce, then ChaCha20-Poly1305 ciphertext (the magic is
the associated data) of msgpack ``[index, term, voters, learners, state, digest]``. The 32-byte
key comes from a mounted Secret file. A backup is verified after writing by reading it back,
decrypting it and recomputing the state digest; restore refuses a backup whose digest does not
match what it claims.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import msgpack
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

MAGIC = b"HIVEBKP1"
NONCE_BYTES = 12
KEY_BYTES = 32


class BackupError(ValueError):
    """A backup cannot be written, read or trusted."""


@dataclass(frozen=True)
class BackupContents:
    index: int
    term: int
    voters: tuple[int, ...]
    learners: tuple[int, ...]
    state: bytes
    digest: str


@dataclass(frozen=True)
class BackupReceipt:
    """What ``POST /backups`` answers and the operator records in HiveBackup status."""

    index: int
    digest: str
    size: int
    checksum: str
    location: str
    verified: bool


def load_key(path: Path) -> bytes:
    try:
        key = Path(path).read_bytes().strip()
    except OSError as error:
        raise BackupError(f"cannot read backup key file: {error.strerror}") from None
    if len(key) == 2 * KEY_BYTES:
        with contextlib.suppress(ValueError):
            key = bytes.fromhex(key.decode())
    if len(key) != KEY_BYTES:
        raise BackupError(f"backup key must be {KEY_BYTES} bytes (raw) or {2 * KEY_BYTES} hex characters")
    return key


def state_digest(state: bytes) -> str:
    return hashlib.sha256(state).hexdigest()


def seal(contents: BackupContents, key: bytes, *, nonce: bytes | None = None) -> bytes:
    nonce = nonce if nonce is not None else os.urandom(NONCE_BYTES)
    plain = msgpack.packb(
        [
            contents.index,
            contents.term,
            list(contents.voters),
            list(contents.learners),
            contents.state,
            contents.digest,
        ]
    )
    return MAGIC + nonce + ChaCha20Poly1305(key).encrypt(nonce, plain, MAGIC)


def open_sealed(blob: bytes, key: bytes) -> BackupContents:
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + 16:
        raise BackupError("not a Hive backup (bad magic or truncated)")
    nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
    try:
        plain = ChaCha20Poly1305(key).decrypt(nonce, blob[len(MAGIC) + NONCE_BYTES :], MAGIC)
    except Exception:
        raise BackupError("backup does not decrypt with this key (wrong key or tampered file)") from None
    index, term, voters, learners, state, digest = msgpack.unpackb(plain, raw=False)
    if state_digest(state) != digest:
        raise BackupError("backup state does not match its recorded digest")
    return BackupContents(index, term, tuple(voters), tuple(learners), state, digest)


def write_backup(contents: BackupContents, *, key: bytes, directory: Path) -> BackupReceipt:
    """Seal ``contents`` into ``directory`` atomically, then read it back to verify it."""
    directory.mkdir(parents=True, exist_ok=True)
    blob = seal(contents, key)
    target = directory / f"hive-backup-{contents.index:020d}-{contents.digest[:16]}.bkp"
    temporary = target.with_suffix(".tmp")
    with open(temporary, "wb") as handle:
        handle.write(blob)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    stored = target.read_bytes()
    verified = open_sealed(stored, key).digest == contents.digest
    return BackupReceipt(
        index=contents.index,
        digest=contents.digest,
        size=len(stored),
        checksum=hashlib.sha256(stored).hexdigest(),
        location=str(target),
        verified=verified,
    )
