"""One webhook POST and the wait after a failed one: shared by incident escalation
(corral.incidents.escalation) and event webhooks (corral.webhooks.delivery)."""

from __future__ import annotations

import random

import aiohttp


async def post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> str | None:
    """None when the receiver accepted (2xx); else why not. ``timeout_s`` bounds the whole attempt,
    so a receiver that accepts the connection and never answers holds a worker slot no longer.
    A redirect is not followed: the signed body would go to a host nobody configured."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                if 200 <= resp.status < 300:
                    return None
                if 300 <= resp.status < 400:
                    where = resp.headers.get("location", "?")[:200]
                    return f"HTTP {resp.status}: redirect to {where} not followed; configure the final URL"
                return f"HTTP {resp.status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"[:500]


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Wait after the ``attempt``-th failure: doubling from ``base_s`` up to ``max_s``, half of it
    fixed and half drawn ("equal jitter"), so a recovering receiver is not hit at once by every
    queued delivery."""
    step = min(max_s, base_s * 2.0 ** min(attempt - 1, 32))
    return step / 2 + (rng or random).uniform(0, step / 2)
