"""The certificate identity the operator issues: defined by the runtime, which enforces it.

Re-exported here so operator code can say ``hive_operator.pki.identity``; the definition lives in
:mod:`hive_runtime.identity` because the runtime must not import the operator.
"""

from hive_runtime.identity import (
    SCHEME_PREFIX,
    Identity,
    IdentityError,
    Role,
    identity_from_certificate,
    identity_from_der,
)

__all__ = [
    "SCHEME_PREFIX",
    "Identity",
    "IdentityError",
    "Role",
    "identity_from_certificate",
    "identity_from_der",
]
