"""Where a new conference's media goes, with several nodes: to the node carrying the fewest legs.

The built-in engine carries a conference's media on the node that owns the
conference's partition of the bus, and the partition is a hash of the
conference's id. So placing a conference is choosing its id: one whose
partition is held by the least-loaded node that is not draining. The placement
is then kept where the bus keeps ownership, the partition's lease in Redis,
and it moves with the lease when its node drains or dies; within the node,
the media workers place the conference on one of theirs by load too.

Each node advertises its load (`load:NODE`, the legs on its engine) every
second, with an expiry of a few seconds: a node that died, or one draining
(which deletes its key), is never chosen. A choice counts one more leg on the
chosen node at once, so a burst of calls within one second is spread too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

import redis.asyncio as redis
from redis.exceptions import RedisError

from talkbox.events.models import conference_key, new_id
from talkbox.events.redis_bus import PARTITIONS, partition_of

log = logging.getLogger(__name__)

ADVERTISE_SECONDS = 1.0
# Ids drawn before giving up on steering: with one node in n owning 16/n partitions, 64 draws miss 1 in 10^8 times.
DRAWS = 64


def new_conference_id() -> str:
    return new_id("c")


def id_in(owned: Collection[int], partitions: int = PARTITIONS, mint: Callable[[], str] = new_conference_id) -> str:
    """An id for a conference whose media is on this node already (a telephone's INVITE came in here): one in a
    partition this node owns, so its events are decided here too; any id if it owns none (it is draining)."""
    for _ in range(DRAWS if owned else 0):
        candidate = mint()
        if partition_of(conference_key(candidate), partitions) in owned:
            return candidate
    return mint()


@dataclass
class Placement:
    client: redis.Redis
    node_id: str
    load: Callable[[], Awaitable[int]]  # legs on this node's engine now
    partitions: int = PARTITIONS
    prefix: str = "talkbox:"
    ttl: float = 3.0  # seconds an advertised load counts without being renewed
    draining: bool = field(default=False, init=False)
    mint: Callable[[], str] = new_conference_id
    pick: Callable[[list[str]], str] = random.choice  # among the nodes tied for least loaded

    def _load_key(self, node: str) -> str:
        return f"{self.prefix}load:{node}"

    async def conference_id(self) -> str:
        """An id for a new conference whose partition's owner carries the least; any id if Redis cannot say."""
        try:
            return await self._placed_id()
        except RedisError as error:
            log.warning("placing a new conference by load: %s; it goes where its id falls", error)
            return self.mint()

    async def _placed_id(self) -> str:
        leases = await self.client.mget([f"{self.prefix}lease:{p}" for p in range(self.partitions)])
        owned: dict[str, set[int]] = {}
        for partition, lease in enumerate(leases):
            if lease:
                owned.setdefault(lease.decode().rsplit(":", 1)[0], set()).add(partition)
        if not owned:
            return self.mint()
        names = sorted(owned)
        advertised = await self.client.mget([self._load_key(node) for node in names])
        loads = {node: int(load) for node, load in zip(names, advertised, strict=True) if load is not None}
        if not loads:
            return self.mint()
        least = min(loads.values())
        chosen = self.pick(sorted(node for node, load in loads.items() if load == least))
        await self.client.incr(self._load_key(chosen))  # keeps the key's expiry; the node overwrites it within a second
        for _ in range(DRAWS):
            candidate = self.mint()
            if partition_of(conference_key(candidate), self.partitions) in owned[chosen]:
                return candidate
        return self.mint()

    async def advertise(self) -> None:
        """Say this node's load, or, draining, that it takes no new conference."""
        if self.draining:
            await self.client.delete(self._load_key(self.node_id))
            return
        await self.client.set(self._load_key(self.node_id), await self.load(), px=int(self.ttl * 1000))

    async def run(self) -> None:
        """Advertise every second until cancelled; a Redis outage is waited out."""
        while True:
            try:
                await self.advertise()
            except RedisError as error:
                log.warning("advertising this node's media load: %s", error)
            await asyncio.sleep(ADVERTISE_SECONDS)

    async def withdraw(self) -> None:
        """Draining: no new conference is placed here from now on (the one in flight may still be)."""
        self.draining = True
        with contextlib.suppress(RedisError):
            await self.advertise()
