"""Per-replica Ed25519 keys that sign audit checkpoints: created once, kept as long as they parse.

Each replica signs its own trail with its own key, so a checkpoint names the replica that signed
it. The keys are not rotated here: a trail verifies against the public key it was signed with,
and rotating would need the verifier to know every past key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _usable(private_pem: bytes) -> bool:
    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError):
        return False
    return isinstance(key, Ed25519PrivateKey)


def new_audit_key() -> bytes:
    """A new Ed25519 private key, PKCS#8 PEM (the runtime's ``audit_key_file`` format)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def audit_public_key(private_pem: bytes) -> bytes:
    """The SubjectPublicKeyInfo PEM of an audit private key (what ``hive audit verify`` takes)."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def ensure_audit_keys(
    existing: Mapping[str, bytes], members: Sequence[str]
) -> tuple[dict[str, bytes], tuple[str, ...]]:
    """Keys for ``members``: the stored ones that parse, new ones for the rest (returned too)."""
    keys: dict[str, bytes] = {}
    created: list[str] = []
    for member in members:
        stored = existing.get(member)
        if stored is not None and _usable(stored):
            keys[member] = stored
        else:
            keys[member] = new_audit_key()
            created.append(member)
    return keys, tuple(created)
