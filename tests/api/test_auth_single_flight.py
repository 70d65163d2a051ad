"""Concurrent verifications of one key share one lookup (the cache-expiry stampede)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from corral.api.auth import verify_key
from corral.config import Settings
from corral.core.errors import AuthError


class Keys:
    """A KeyService stand-in whose lookups take a moment and can be made to fail."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls = 0
        self.fail_first = fail_first

    async def verify(self, raw: str) -> Any:
        self.calls += 1
        call = self.calls
        await asyncio.sleep(0.02)
        if self.fail_first and call == 1:
            raise RuntimeError("database went away")
        if raw != "sk-good":
            return None
        return SimpleNamespace(id="key_1", name="n", team="t", scopes=frozenset({"inference"}))


async def test_concurrent_verifications_share_one_lookup() -> None:
    keys = Keys()
    gateway = SimpleNamespace(keys=keys, settings=Settings())
    callers = await asyncio.gather(*(verify_key(gateway, "sk-good", "inference") for _ in range(16)))
    assert keys.calls == 1 and {c.key_id for c in callers} == {"key_1"}
    await verify_key(gateway, "sk-good", "inference")
    assert keys.calls == 2  # sequential calls are not coalesced (the service's cache decides)


async def test_different_keys_are_not_coalesced_and_bad_keys_fail_for_all() -> None:
    keys = Keys()
    gateway = SimpleNamespace(keys=keys, settings=Settings())
    results = await asyncio.gather(
        *(verify_key(gateway, raw, "inference") for raw in ["sk-good", "sk-bad"] * 4),
        return_exceptions=True,
    )
    assert keys.calls == 2
    assert [isinstance(r, AuthError) for r in results] == [False, True] * 4


async def test_a_failed_leader_lets_followers_look_up_themselves() -> None:
    keys = Keys(fail_first=True)
    gateway = SimpleNamespace(keys=keys, settings=Settings())
    results = await asyncio.gather(*(verify_key(gateway, "sk-good", "inference") for _ in range(3)),
                                   return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert all(r.key_id == "key_1" for r in results[1:])  # type: ignore[union-attr]


async def test_a_cancelled_leader_does_not_strand_followers() -> None:
    keys = Keys()
    gateway = SimpleNamespace(keys=keys, settings=Settings())
    leader = asyncio.create_task(verify_key(gateway, "sk-good", "inference"))
    await asyncio.sleep(0)
    follower = asyncio.create_task(verify_key(gateway, "sk-good", "inference"))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert (await follower).key_id == "key_1"
