"""Ed25519 keys for audit checkpoints: load from files (a mounted Secret), sign, verify.

Private keys are PKCS#8 PEM (unencrypted: the file's protection is the Secret mount) or the raw
32-byte seed; public keys are SubjectPublicKeyInfo PEM or the raw 32 bytes. Key material never
goes to logs; a key is named by its id, the first 8 bytes of SHA-256 of the raw public key.
"""

from __future__ import annotations

import os
from hashlib import sha256
from pathlib import Path

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hive_runtime.audit.chain import Checkpoint

CHECKPOINT_DOMAIN = "hive-audit-checkpoint"
RAW = serialization.Encoding.Raw
RAW_PUBLIC = serialization.PublicFormat.Raw


class KeyFileError(ValueError):
    """A key file is missing, unreadable or not an Ed25519 key."""


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    data = _read(path)
    if len(data) == 32:
        return Ed25519PrivateKey.from_private_bytes(data)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 private key")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    data = _read(path)
    if len(data) == 32:
        return Ed25519PublicKey.from_public_bytes(data)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key")
    return key


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None


def generate_key_files(private_path: str | Path, public_path: str | Path) -> str:
    """Create a new key pair (private file mode 0600, never overwritten); returns the key id."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public = key.public_key()
    Path(public_path).write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return key_id(public)


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(RAW, RAW_PUBLIC)


def key_id(key: Ed25519PublicKey) -> str:
    return sha256(public_raw(key)).digest()[:8].hex()


def checkpoint_payload(checkpoint: Checkpoint) -> bytes:
    """The exact bytes a checkpoint signature covers (domain-separated, canonical msgpack)."""
    return msgpack.packb(  # type: ignore[no-any-return]
        [CHECKPOINT_DOMAIN, 1, checkpoint.tree_size, checkpoint.root, checkpoint.chain_head, checkpoint.ts_us]
    )


def sign_checkpoint(key: Ed25519PrivateKey, checkpoint: Checkpoint) -> bytes:
    return key.sign(checkpoint_payload(checkpoint))


def verify_checkpoint(key: Ed25519PublicKey, checkpoint: Checkpoint, signature: bytes) -> bool:
    try:
        key.verify(signature, checkpoint_payload(checkpoint))
    except InvalidSignature:
        return False
    return True
