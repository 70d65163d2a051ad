"""Meters on Redis (corral.store.meters): one Lua script checks and reserves every meter of a
request at once on the server, so every replica shares them; another settles. `meters_for`
picks them or the in-process ones from the configured KV."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from corral.store.coordinated import CoordinatedKV, CoordinatedMeters
from corral.store.kv import KV, KVUnavailable, MemoryKV
from corral.store.kv_redis import RedisKV
from corral.store.meters import BUCKETS, Adjustment, MemoryMeters, Meter, MeterStore, Verdict, bucket_of

# KEYS: the meters. ARGV: now, then per meter: limit, amount, window_s (0: a period counter).
# Replies carry numbers as strings: Redis would truncate a Lua number to an integer.
_RESERVE_LUA = """
local now = tonumber(ARGV[1])
local n = #KEYS
local missing = {}
for i = 1, n do
  if tonumber(ARGV[3 * i + 1]) == 0 and redis.call('EXISTS', KEYS[i]) == 0 then missing[#missing + 1] = i end
end
if #missing > 0 then return {'missing', missing} end
local used, resets, cur = {}, {}, {}
for i = 1, n do
  local limit, amount, window = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  if window > 0 then
    local width = window / BUCKETS
    cur[i] = math.floor(now / width)
    local first = cur[i] - BUCKETS + 1
    local fields = redis.call('HGETALL', KEYS[i])
    local level, live, newest = 0, {}, nil
    for j = 1, #fields, 2 do
      local b, v = tonumber(fields[j]), tonumber(fields[j + 1])
      if b < first then redis.call('HDEL', KEYS[i], fields[j])
      else
        level = level + v
        live[#live + 1] = b
        if v > 0 and (newest == nil or b > newest) then newest = b end
      end
    end
    if level + amount > limit and amount > 0 then
      table.sort(live)
      local need, freed, retry = level + amount - limit, 0, 0
      local values = {}
      for j = 1, #fields, 2 do values[tonumber(fields[j])] = tonumber(fields[j + 1]) end
      for _, b in ipairs(live) do
        freed = freed + values[b]
        if freed >= need then retry = (b + BUCKETS) * width - now; break end
      end
      return {'refused', i, tostring(level), tostring(math.max(retry, 0))}
    end
    used[i] = level
    resets[i] = newest and ((newest + BUCKETS) * width - now) or 0
  else
    local level = tonumber(redis.call('GET', KEYS[i]))
    if level + amount > limit or level >= limit then return {'refused', i, tostring(level), '-1'} end
    used[i] = level
    resets[i] = 0
  end
end
local reply = {'ok'}
for i = 1, n do
  local amount, window = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  if window > 0 then
    local width = window / BUCKETS
    redis.call('HINCRBYFLOAT', KEYS[i], cur[i], amount)
    redis.call('PEXPIRE', KEYS[i], math.ceil(window * 1000 + width * 1000))
    resets[i] = math.max(resets[i], (cur[i] + BUCKETS) * width - now)
  else
    redis.call('INCRBYFLOAT', KEYS[i], amount)
  end
  reply[#reply + 1] = tostring(used[i] + amount)
  reply[#reply + 1] = tostring(resets[i])
end
return reply
""".replace("BUCKETS", str(BUCKETS))

# KEYS: counters. ARGV per key: bucket ('' for a period counter), delta. Only existing counters change.
_ADJUST_LUA = """
for i = 1, #KEYS do
  local bucket, delta = ARGV[2 * i - 1], ARGV[2 * i]
  if bucket == '' then
    if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBYFLOAT', KEYS[i], delta) end
  elseif redis.call('HEXISTS', KEYS[i], bucket) == 1 then
    redis.call('HINCRBYFLOAT', KEYS[i], bucket, delta)
  end
end
return 1
"""


class RedisMeters(MeterStore):
    """Meters on the Redis behind a :class:`RedisKV`: shared by every replica. Clocks: each
    replica passes its own time; NTP-synchronised hosts agree far within a bucket (1 s)."""

    def __init__(self, kv: RedisKV, clock: Callable[[], float] = time.time) -> None:
        self.kv = kv
        self.clock = clock
        self._reserve = kv.client.register_script(_RESERVE_LUA)
        self._adjust = kv.client.register_script(_ADJUST_LUA)

    def _keys(self, keys: Sequence[str]) -> list[str]:
        return [self.kv.prefix + k for k in keys]

    async def reserve(self, meters: Sequence[Meter], now: float | None = None) -> Verdict:
        now = self.clock() if now is None else now
        args: list[str] = [repr(now)]
        for m in meters:
            args += [repr(float(m.limit)), repr(float(m.amount)), repr(float(m.window_s))]
        with self.kv._outage("EVALSHA (reserve)"):
            reply = await self._reserve(keys=self._keys([m.key for m in meters]), args=args)
        status = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
        if status == "missing":
            return Verdict(False, missing=tuple(int(i) - 1 for i in reply[1]))
        if status == "refused":
            retry = float(reply[3])
            return Verdict(False, (float(reply[2]),), refused=int(reply[1]) - 1,
                           retry_after_s=None if retry < 0 else retry)
        values = [float(v) for v in reply[1:]]
        return Verdict(True, tuple(values[0::2]), tuple(values[1::2]))

    async def adjust(self, adjustments: Sequence[Adjustment]) -> None:
        if not adjustments:
            return
        args: list[str] = []
        for a in adjustments:
            args += ["" if a.bucket is None else str(a.bucket), repr(float(a.delta))]
        with self.kv._outage("EVALSHA (adjust)"):
            await self._adjust(keys=self._keys([a.key for a in adjustments]), args=args)

    async def seed(self, key: str, value: float, ttl_s: float) -> None:
        with self.kv._outage("SET NX"):
            await self.kv.client.set(self.kv.prefix + key, repr(float(value)), nx=True,
                                     px=math.ceil(ttl_s * 1000))

    async def level(self, meter: Meter, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        with self.kv._outage("read meter"):
            if meter.window_s == 0:
                value = await self.kv.client.get(self.kv.prefix + meter.key)
                return float(value) if value is not None else 0.0
            fields = await self.kv.client.hgetall(self.kv.prefix + meter.key)
        first = bucket_of(now, meter.window_s) - BUCKETS + 1
        return sum(float(v) for b, v in fields.items() if int(b) >= first)


def meters_for(kv: KV, clock: Callable[[], float] = time.time) -> MeterStore:
    """Redis meters when the KV is Redis (shared by replicas), the local coordinator's when the KV
    is (shared by the workers of `corral serve --workers N`), else this process's own."""
    if isinstance(kv, RedisKV):
        return RedisMeters(kv, clock)
    if isinstance(kv, CoordinatedKV):
        return CoordinatedMeters(kv)
    if isinstance(kv, MemoryKV) or kv.local:
        return MemoryMeters(clock)
    raise KVUnavailable(f"no meter store for {type(kv).__name__}")
