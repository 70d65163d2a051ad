"""API keys: format, storage (hashes only), verification and the ``keys`` CLI."""

from corral.auth.keys import SCOPE_ADMIN, SCOPE_INFERENCE, SCOPES, KeyInfo, hash_key
from corral.auth.service import (
    AmbiguousKeyError,
    BootstrapKeys,
    KeyNotFoundError,
    KeyService,
)

__all__ = [
    "SCOPES",
    "SCOPE_ADMIN",
    "SCOPE_INFERENCE",
    "AmbiguousKeyError",
    "BootstrapKeys",
    "KeyInfo",
    "KeyNotFoundError",
    "KeyService",
    "hash_key",
]
