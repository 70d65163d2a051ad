"""Who a cached answer belongs to: tags that let erasure find entries whose keys are one-way.

A cache key is a SHA-256 of the request, so an end user's, an API key's or a request's entries
cannot be listed from their keys. Each write therefore files its key under one tag per owner
(``cache:owner:<kind>:<blake2b-128 hex of the id>``, in the same store and with the same lifetime as the
entry: a Redis sorted set by expiry, or beside the entry in process memory), and erasure deletes a tag's keys
(:meth:`corral.store.kv.KV.delete_tagged`). The tag names hash the ids so that Redis key names
never show an end user's id. Cost: measured by bench/cache_owner_tags.py (docs/erasure.md).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Literal

OwnerKind = Literal["user", "key", "request"]
OWNER_KINDS: tuple[OwnerKind, ...] = ("user", "key", "request")
TAG_PREFIX = "cache:owner:"


def owner_tag(kind: OwnerKind, value: str) -> str:
    """The tag of one owner: its kind and a hash of its id."""
    return f"{TAG_PREFIX}{kind}:{hashlib.blake2b(value.encode(), digest_size=16).hexdigest()}"


_repeated = functools.lru_cache(maxsize=4096)(owner_tag)  # end users and keys recur; requests do not


def owner_tags(user: str | None, key_id: str | None, request_id: str | None) -> tuple[str, ...]:
    """The tags of an entry written for this end user, by this key, in this request (empty ids
    skipped): ~1.5 us a write, most of it hashing the request id."""
    tags = [_repeated("user", user)] if user else []
    if key_id:
        tags.append(_repeated("key", key_id))
    if request_id:
        tags.append(owner_tag("request", request_id))
    return tuple(tags)
