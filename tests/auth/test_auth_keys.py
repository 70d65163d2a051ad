"""Key format, hashing and scope handling (no database)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from corral.auth.keys import (
    KEY_LENGTH,
    KEY_PREFIX,
    KeyInfo,
    decode_scopes,
    display_prefix,
    encode_scopes,
    generate_key,
    generate_key_id,
    hash_key,
    looks_like_key,
    normalize_scopes,
)


def test_generated_keys_have_the_documented_shape() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    for k in keys:
        assert k.startswith("sk-corral-")
        assert len(k) == len(KEY_PREFIX) + 32 == KEY_LENGTH
        assert looks_like_key(k)


def test_hash_and_prefix() -> None:
    k = generate_key()
    assert hash_key(k) == hashlib.sha256(k.encode()).hexdigest()
    assert display_prefix(k).startswith(KEY_PREFIX)
    assert k.startswith(display_prefix(k))
    assert len(display_prefix(k)) < len(k) - 20  # most of the secret stays hidden


@pytest.mark.parametrize(
    "value",
    ["", "sk-corral-", "Bearer x", "sk-other-" + "a" * 33, KEY_PREFIX + "A" * 32 + "x",
     KEY_PREFIX + "!" * 32],
    ids=["empty", "prefix-only", "bearer", "other-prefix", "one-char-too-long", "bad-chars"],
)
def test_looks_like_key_rejects_garbage(value: str) -> None:
    assert not looks_like_key(value)


def test_key_ids_are_unique_and_prefixed() -> None:
    ids = {generate_key_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("key_") for i in ids)


def test_scopes() -> None:
    assert normalize_scopes(["Admin", " inference "]) == {"admin", "inference"}
    assert encode_scopes({"inference", "admin"}) == "admin,inference"
    assert decode_scopes("admin,inference") == {"admin", "inference"}
    with pytest.raises(ValueError, match="unknown role"):
        normalize_scopes(["root"])
    with pytest.raises(ValueError, match="at least one"):
        normalize_scopes([])


def test_keyinfo_helpers() -> None:
    info = KeyInfo("key_1", "n", "t", frozenset({"admin"}), "sk-corral-abcdef", datetime.now(UTC))
    assert info.is_admin
    assert not info.has_scope("inference")  # admin implies nothing else
    d = info.to_dict()
    assert d["scopes"] == ["admin"]
    assert d["revoked"] is False
    assert isinstance(d["created_at"], str)
