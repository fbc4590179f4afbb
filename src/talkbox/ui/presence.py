"""Who is online, cluster-wide: each open socket registered under its user, with the node that holds it.

It is also what the per-user socket cap counts with several nodes: a user's
tabs are limited across the deployment, not per node.

A node beats every second; a socket counts only while its node's last beat is
recent (`ttl`), so the sockets of a node that was killed stop counting within
seconds, without anyone deleting them. A node that stops cleanly removes its own.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

BEAT_SECONDS = 1.0

_BEAT = """
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) + tonumber(t[2]) / 1e6, ARGV[1])
"""
# Registers the socket only while the user has fewer than ARGV[3] live ones anywhere; a killed node's
# sockets are dropped on the way, so they neither count nor pile up.
_ADD = """
local t = redis.call('TIME')
local oldest = tonumber(t[1]) + tonumber(t[2]) / 1e6 - tonumber(ARGV[2])
local sockets = redis.call('HGETALL', KEYS[1])
local live = 0
for i = 1, #sockets, 2 do
    local beat = redis.call('ZSCORE', KEYS[2], sockets[i + 1])
    if beat and tonumber(beat) > oldest then live = live + 1 else redis.call('HDEL', KEYS[1], sockets[i]) end
end
if live >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
return 1
"""
_ONLINE = """
local t = redis.call('TIME')
local oldest = tonumber(t[1]) + tonumber(t[2]) / 1e6 - tonumber(ARGV[1])
for _, node in ipairs(redis.call('HVALS', KEYS[1])) do
    local beat = redis.call('ZSCORE', KEYS[2], node)
    if beat and tonumber(beat) > oldest then return 1 end
end
return 0
"""


@dataclass
class Presence:
    client: redis.Redis
    node_id: str
    ttl: float = 3.0  # seconds without a beat before a node's sockets stop counting
    prefix: str = "talkbox:"

    def _sockets(self, user: str) -> str:
        return f"{self.prefix}presence:{user}"

    @property
    def _nodes(self) -> str:
        return f"{self.prefix}presence-nodes"

    async def add(self, user: str, socket_id: str, most: int) -> bool:
        """Register a socket, unless the user already has `most` open on the live nodes: then False."""
        added = await self.client.eval(
            _ADD, 2, self._sockets(user), self._nodes, socket_id, self.ttl, most, self.node_id
        )
        return bool(added)

    async def remove(self, user: str, socket_id: str) -> None:
        await self.client.hdel(self._sockets(user), socket_id)

    async def online(self, user: str) -> bool:
        return bool(await self.client.eval(_ONLINE, 2, self._sockets(user), self._nodes, self.ttl))

    async def beat(self) -> None:
        """This node's heartbeat, until cancelled; a Redis outage only skips beats."""
        while True:
            try:
                await self.client.eval(_BEAT, 1, self._nodes, self.node_id)
            except RedisError as error:
                log.warning("presence heartbeat: %s", error)
            await asyncio.sleep(BEAT_SECONDS)
