"""Budgets kept in Redis, so that with several nodes a user's pages share one budget wherever they are.

The same sliding window as ui/limits.RateLimit, as one sorted set of request
times per key, read and written in one Lua call with Redis's own clock (the
nodes' clocks need not agree).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis.asyncio as redis

_ALLOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


@dataclass
class SharedRateLimit:
    client: redis.Redis
    name: str  # which budget: part of the key
    limit: int
    window: float = 60.0
    prefix: str = "talkbox:"

    async def allow(self, key: str) -> bool:
        window_ms = int(self.window * 1000)
        allowed = await self.client.eval(
            _ALLOW, 1, f"{self.prefix}budget:{self.name}:{key}", window_ms, self.limit, uuid.uuid4().hex
        )
        return bool(allowed)
