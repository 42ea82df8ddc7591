"""Tamper-evident audit trail: SHA-256 hash chain, RFC 6962 Merkle checkpoints, Ed25519 signatures.

The chain and the checkpoints are computed inside the deterministic state machine (identical on
every replica); only the signature of a checkpoint is per replica and happens in
:class:`hive_runtime.audit.trail.AuditWriter`, outside the state machine.
"""
