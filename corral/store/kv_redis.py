"""KV on Redis: counters, breakers' state and cached answers shared by every replica.

Two savings on the request path, where each redis-py command costs tens of microseconds of
this process's CPU (bench/workers_native_load.py measured Redis at 2.5x the gateway's CPU per
request before them):

- :meth:`RedisKV.get_cached` answers keys read far more often than written (the breakers'
  state) from a copy Redis keeps current (corral.store.redis_copies);
- :meth:`RedisKV.incr_unread` (counts nobody reads back at once: the breakers' windows and the
  retry budget) adds into this process's tally and sends it every ``COUNT_WINDOW_S`` in one
  pipeline, summed per key, so a burst of requests costs one round trip, not one each.
  Counts reach other replicas that much later; a count lost with the process (SIGKILL) or
  an outage is lost, as an unanswered ``INCR`` would be (logged and counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any

from corral.store.kv import DEFAULT_PREFIX, KV, KVUnavailable, Value, _ttl_ms, encode
from corral.store.redis_copies import RedisCopies

log = logging.getLogger(__name__)

COUNT_WINDOW_S = 0.01
# RedisKV.stats keys that are cumulative (reported as corral_redis_<key>_total by /metrics)
STATS_COUNTERS = frozenset({"copy_hits", "copy_fills", "copy_invalidations", "copy_losses", "counts_lost",
                            "count_pipelines"})

# INCRBY/INCRBYFLOAT + PEXPIRE in one round trip, atomically on the server.
_INCR_LUA = """
local v = redis.call(ARGV[1], KEYS[1], ARGV[2])
if ARGV[3] ~= '' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return v
"""


# File the entry in each tag (a sorted set by deadline, pruned of expired keys and kept alive as
# long as its newest key), then SET it: a script stops at its first error and keeps what it wrote,
# so a tag that fails (a key of the wrong type) leaves no entry erasure could not find.
# ARGV: value, ttl ms, key, deadline ms, now ms.
_SET_TAGGED_LUA = """
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[4], ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[5])
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
"""
# Delete the tag's keys (named relative to the prefix, ARGV[1]) and the tag: {count, keys...}.
_DELETE_TAGGED_LUA = """
local keys = redis.call('ZRANGE', KEYS[1], 0, -1)
local n = 0
for _, k in ipairs(keys) do n = n + redis.call('DEL', ARGV[1] .. k) end
redis.call('DEL', KEYS[1])
table.insert(keys, 1, n)
return keys
"""


@functools.cache
def _redis_outages() -> tuple[type[BaseException], ...]:
    """What the Redis client raises when the server cannot serve: imported on first use."""
    from redis.exceptions import RedisError

    return (RedisError, OSError)  # OSError: refused/reset sockets the client lets through


def _is_bad_value(reply: Exception) -> bool:
    """Whether an error reply to the incr script is about the stored value (not a number),
    rather than the server refusing to serve (full, read-only replica, loading, busy)."""
    text = str(reply)
    return "not an integer" in text or "not a valid float" in text or "WRONGTYPE" in text


class RedisKV(KV):
    """KV on Redis (``redis.asyncio``) — counters shared by all replicas.

    Every client error becomes :class:`KVUnavailable` (connection refused or lost,
    timeouts, a full pool, a server refusing a command: out of memory, a read-only replica,
    loading) except an error reply about the value itself (not a number, wrong type), which
    is the caller's ``ValueError``.
    """

    def __init__(self, client: Any, prefix: str = DEFAULT_PREFIX, *,
                 copies: RedisCopies | None = None) -> None:
        self.prefix = prefix
        self.client = client
        self.copies = copies  # None: get_cached is a get
        self._tally: dict[str, tuple[int, float | None]] = {}  # full key -> (amount to add, ttl)
        self._in_flight: dict[str, tuple[int, float | None]] = {}  # the tally being sent now
        self._send_lock = asyncio.Lock()  # one pipeline at a time (a reader waits for its key's)
        self._sending: set[asyncio.Task[None]] = set()
        self.counts_lost = 0
        self.count_pipelines = 0
        self._incr = client.register_script(_INCR_LUA)
        self._set_tagged = client.register_script(_SET_TAGGED_LUA)
        self._delete_tagged = client.register_script(_DELETE_TAGGED_LUA)

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        *,
        max_connections: int = 50,
        pool_timeout_s: float = 5.0,
        copies: bool = True,
        **kwargs: Any,
    ) -> RedisKV:
        """Client on a *blocking* pool: bursts wait for a free connection
        (up to ``pool_timeout_s``) instead of failing with "Too many connections". ``copies``:
        :meth:`get_cached` keeps copies current through Redis's invalidation messages."""
        from redis.asyncio import BlockingConnectionPool, Redis

        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=pool_timeout_s,
            decode_responses=False,
            **kwargs,
        )
        return cls(Redis.from_pool(pool), prefix=prefix,
                   copies=RedisCopies(pool.connection_class, pool.connection_kwargs) if copies else None)

    @staticmethod
    @contextlib.contextmanager
    def _outage(op: str) -> Iterator[None]:
        """Re-raise the client's errors as :class:`KVUnavailable` naming the operation."""
        try:
            yield
        except _redis_outages() as exc:
            raise KVUnavailable(f"Redis {op} failed: {type(exc).__name__}: {exc}") from exc

    async def get(self, key: str) -> bytes | None:
        """The stored value, plus this process's counts not sent yet (it reads its own writes)."""
        full = self.prefix + key
        async with self._counted(full):
            with self._outage("GET"):
                value: bytes | None = await self.client.get(full)
            unsent = self._tally.get(full)
        if unsent is not None:
            return encode(int(value or 0) + unsent[0])
        return value

    async def get_cached(self, key: str) -> bytes | None:
        """From this process's copy, which Redis keeps current (corral.store.redis_copies);
        a plain :meth:`get` when copies are off or unavailable."""
        if self.copies is not None:
            full = self.prefix + key
            found, value = self.copies.cached(full)
            if not found:
                found, value = await self.copies.read(full)
            if found:
                return value
        return await self.get(key)

    def _changing(self, key: str) -> str:
        full = self.prefix + key
        if self.copies is not None:
            self.copies.drop(full)
        return full

    async def set(self, key: str, value: Value, ttl_s: float | None = None) -> None:
        px = None if ttl_s is None else _ttl_ms(ttl_s)
        self._tally.pop(self.prefix + key, None)  # counts made before a write are overwritten by it
        with self._outage("SET"):
            await self.client.set(self._changing(key), encode(value), px=px)

    async def delete(self, key: str) -> bool:
        self._tally.pop(self.prefix + key, None)
        with self._outage("DEL"):
            return bool(await self.client.delete(self._changing(key)))

    async def _run_incr(self, op: str, key: str, amount: Value, ttl_s: float | None) -> Any:
        from redis.exceptions import ResponseError

        full = self.prefix + key
        ttl = "" if ttl_s is None else str(_ttl_ms(ttl_s))
        async with self._counted(full):
            unsent = self._tally.pop(full, None) if op == "INCRBY" else None
            if unsent is not None:  # sent with this one: the answer counts them
                amount = int(amount) + unsent[0]
            with self._outage(op):
                try:
                    return await self._incr(keys=[self._changing(key)], args=[op, amount, ttl])
                except ResponseError as e:
                    if not _is_bad_value(e):
                        raise  # OOM, READONLY, LOADING, BUSY...: the server cannot serve (_outage)
                    raise ValueError(f"{op} on {key!r} failed: {e}") from e

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        return int(await self._run_incr("INCRBY", key, int(amount), ttl_s))

    async def incr_float(self, key: str, amount: float, ttl_s: float | None = None) -> float:
        return float(await self._run_incr("INCRBYFLOAT", key, repr(float(amount)), ttl_s))

    def incr_unread(self, key: str, amount: int = 1, ttl_s: float | None = None,
                    ) -> Coroutine[Any, Any, int] | None:
        """Added to this process's tally, sent within ``COUNT_WINDOW_S`` (the module doc)."""
        full = self._changing(key)
        if not self._tally:
            asyncio.get_running_loop().call_later(COUNT_WINDOW_S, self._send_tally)
        unsent = self._tally.get(full)
        self._tally[full] = (int(amount) + (unsent[0] if unsent else 0), ttl_s)
        return None

    def _send_tally(self) -> None:
        if self._tally:
            sending = asyncio.get_running_loop().create_task(self.send_counts(), name="corral redis counts")
            self._sending.add(sending)
            sending.add_done_callback(self._sending.discard)

    def stats(self) -> dict[str, float]:
        """For /metrics: whether copies are being kept current (``copies_tracking`` 1/0), how often
        they answered, and counts sent and lost."""
        copies = self.copies
        counts = copies.counts if copies is not None else {}
        return {"copies_tracking": float(copies is not None and copies.ready),
                "copies_kept": float(len(copies.copies) if copies is not None else 0),
                **{f"copy_{k}": float(counts.get(k, 0)) for k in ("hits", "fills", "invalidations")},
                "copy_losses": float(counts.get("losses", 0)),
                "count_pipelines": float(self.count_pipelines), "counts_lost": float(self.counts_lost)}

    async def send_counts(self) -> None:
        """Send the tally now, in one pipeline (also what :meth:`close` does last)."""
        async with self._send_lock:
            tally = self._in_flight = self._tally
            self._tally = {}
            if not tally:
                return
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for full, (amount, ttl_s) in tally.items():
                        ttl = "" if ttl_s is None else str(_ttl_ms(ttl_s))
                        pipe.eval(_INCR_LUA, 1, full, "INCRBY", amount, ttl)  # (a Script would ask
                        # SCRIPT EXISTS before every pipeline: one more round trip)
                    await pipe.execute(raise_on_error=False)
                self.count_pipelines += 1
            except _redis_outages() as exc:
                self.counts_lost += len(tally)
                log.warning("Redis unreachable: %d counts not sent (%s: %s)", len(tally),
                            type(exc).__name__, exc)
            finally:
                self._in_flight = {}

    def _counted(self, full: str) -> contextlib.AbstractAsyncContextManager[Any]:
        """Hold the pipeline back while an operation on ``full`` runs when this process has
        counts for it in the tally or on the way: otherwise a read could land before them, then
        miss them (sent meanwhile) or, after, count them twice (still in the tally)."""
        if full in self._tally or full in self._in_flight:
            return self._send_lock
        return contextlib.nullcontext()

    async def expire(self, key: str, ttl_s: float) -> bool:
        with self._outage("PEXPIRE"):
            return bool(await self.client.pexpire(self._changing(key), _ttl_ms(ttl_s)))

    def _tagged(self, key: str, value: Value, ttl_s: float, tags: Sequence[str],
                now_ms: int) -> tuple[list[str], list[Any]]:
        """The keys and arguments of ``_SET_TAGGED_LUA`` for one entry."""
        ttl = _ttl_ms(ttl_s)
        keys = [self._changing(key), *(self.prefix + t for t in tags)]
        return keys, [encode(value), ttl, key, now_ms + ttl, now_ms]

    async def set_tagged(self, key: str, value: Value, ttl_s: float, tags: Sequence[str]) -> None:
        keys, args = self._tagged(key, value, ttl_s, tags, int(time.time() * 1000))  # one round trip
        with self._outage("SET"):
            await self._set_tagged(keys=keys, args=args)

    async def set_many(self, items: Sequence[tuple[str, Value, float, Sequence[str]]],
                       ) -> list[Exception | None]:
        """Several :meth:`set_tagged` (or plain ``SET`` without tags) in one pipeline: the cache's
        background writer's batch. Per item, None or the error it met (all of them: an outage)."""
        if not items:
            return []
        now = int(time.time() * 1000)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for key, value, ttl_s, tags in items:
                    if tags:
                        keys, args = self._tagged(key, value, ttl_s, tags, now)
                        pipe.eval(_SET_TAGGED_LUA, len(keys), *keys, *args)
                    else:
                        pipe.set(self._changing(key), encode(value), px=_ttl_ms(ttl_s))
                replies = await pipe.execute(raise_on_error=False)
        except _redis_outages() as exc:
            outage = KVUnavailable(f"Redis SET failed: {type(exc).__name__}: {exc}")
            return [outage] * len(items)
        return [r if isinstance(r, Exception) else None for r in replies]

    async def delete_tagged(self, tag: str) -> tuple[list[str], int]:
        with self._outage("DEL"):
            reply = await self._delete_tagged(keys=[self.prefix + tag], args=[self.prefix])
        return [k.decode() if isinstance(k, bytes) else str(k) for k in reply[1:]], int(reply[0])

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.send_counts()
        if self.copies is not None:
            await self.copies.close()
        await self.client.aclose()
