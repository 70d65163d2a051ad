"""API key format, hashing and the public :class:`KeyInfo` record.

A key is ``sk-corral-`` + 32 url-safe random characters (192 bits). Only its
SHA-256 hex digest and a short display prefix are stored: a leaked database
does not leak usable keys, and a fast hash is fine because the input is
high-entropy random, not a password.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from corral.auth.roles import ROLE_ADMIN, ROLE_INFERENCE, ROLES

KEY_PREFIX = "sk-corral-"
KEY_RANDOM_CHARS = 32
#: Random characters kept in the display prefix (``sk-corral-ab12cd``).
DISPLAY_RANDOM_CHARS = 6
KEY_LENGTH = len(KEY_PREFIX) + KEY_RANDOM_CHARS

SCOPE_ADMIN = ROLE_ADMIN
SCOPE_INFERENCE = ROLE_INFERENCE
#: Known roles (stored as the key's scopes). ``admin`` does not imply ``inference``;
#: a key may hold several. What each grants: corral.auth.roles.
SCOPES = ROLES

_URLSAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def generate_key() -> str:
    """New raw key. 24 random bytes encode to exactly 32 url-safe characters."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_CHARS * 3 // 4)


def generate_key_id() -> str:
    return "key_" + secrets.token_hex(8)


def hash_key(raw_key: str) -> str:
    """SHA-256 hex digest stored at rest and used for lookup."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def display_prefix(raw_key: str) -> str:
    """The part humans see in listings to recognise a key."""
    return raw_key[: len(KEY_PREFIX) + DISPLAY_RANDOM_CHARS]


def looks_like_key(value: str) -> bool:
    """Cheap shape check so garbage never reaches the database."""
    return (
        len(value) == KEY_LENGTH
        and value.startswith(KEY_PREFIX)
        and all(c in _URLSAFE for c in value[len(KEY_PREFIX) :])
    )


#: Longest key name or team (the ``api_keys`` columns hold 200 characters).
MAX_LABEL_CHARS = 200


class KeyFieldError(ValueError):
    """A key's name, team or scopes cannot be stored; ``field`` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def normalize_label(field: str, value: object) -> str:
    """A key name or team, stripped; refused when it cannot be stored on every backend."""
    if not isinstance(value, str) or not value.strip():
        raise KeyFieldError(field, f"'{field}' must be a non-empty string.")
    value = value.strip()
    if len(value) > MAX_LABEL_CHARS:
        raise KeyFieldError(field, f"'{field}' is too long: at most {MAX_LABEL_CHARS} characters, "
                                   f"got {len(value)}.")
    if "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise KeyFieldError(field, f"'{field}' contains a NUL character (\\u0000); remove it.")
    return value


def normalize_scopes(scopes: Iterable[object]) -> frozenset[str]:
    """Validate scope names; raise ValueError (a KeyFieldError) for unknown or empty sets."""
    if isinstance(scopes, str) or not all(isinstance(s, str) for s in scopes):
        raise KeyFieldError("roles", f"'roles' must be a list of strings, some of {sorted(SCOPES)}.")
    result = frozenset(s.strip().lower() for s in scopes if isinstance(s, str) and s.strip())
    unknown = result - SCOPES
    if unknown:
        raise KeyFieldError("roles", f"unknown role(s) {sorted(unknown)}; known: {sorted(SCOPES)} "
                                     "(docs/roles.md)")
    if not result:
        raise KeyFieldError("roles", "a key needs at least one role")
    return result


def encode_scopes(scopes: Iterable[str]) -> str:
    return ",".join(sorted(scopes))


def decode_scopes(value: str) -> frozenset[str]:
    return frozenset(s for s in value.split(",") if s)


@dataclass(frozen=True)
class KeyInfo:
    """What the gateway knows about a caller's key (never the key itself)."""

    id: str
    name: str
    team: str
    scopes: frozenset[str]
    prefix: str
    created_at: datetime
    revoked: bool = False
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    created_by: str | None = None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def is_admin(self) -> bool:
        return SCOPE_ADMIN in self.scopes

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly view for the CLI and admin API."""

        def iso(v: datetime | None) -> str | None:
            return v.isoformat() if v else None

        return {
            "id": self.id,
            "name": self.name,
            "team": self.team,
            "roles": sorted(self.scopes),
            "scopes": sorted(self.scopes),  # the same roles, under the name of the first release
            "prefix": self.prefix,
            "created_at": iso(self.created_at),
            "last_used_at": iso(self.last_used_at),
            "revoked": self.revoked,
            "revoked_at": iso(self.revoked_at),
            "created_by": self.created_by,
        }
