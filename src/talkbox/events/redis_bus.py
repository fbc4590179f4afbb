"""The bus on Redis Streams, for several nodes sharing one deployment.

Events are spread over PARTITIONS streams by their partition key (the
conference, else the user), so one conference's events are in one stream, in
publish order. Each partition has one owner at a time: the node holding its
lease, a key set with NX and a expiry, whose value carries a fencing epoch
(`node:epoch`). Only the owner reads the stream (one consumer group for the
deployment), and its acknowledgement is refused once the lease is not its own
any more, so an owner that stalled past its lease cannot acknowledge what its
successor is redelivering.

A node takes partitions nobody holds, up to its share of the live nodes. The
built-in engine keeps a conference's media on the node that owns its partition,
so moving a partition under a live call would strand that call: a node above
its share (another has joined) hands over only partitions `can_release` says
no call depends on, once what it read of them is handled. A new owner
first runs the `on_acquire` hooks (the calls of the partition are resumed on
this node), then takes over what its predecessor read but never acknowledged
(XAUTOCLAIM), then reads new entries. An entry handed out `max_deliveries`
times (its consumers kept dying on it) becomes a dead letter instead. `fence`
names what a handler's store write is made under (events/fence.py): the lease,
and `applied:P:ENTRY`, the handlers that wrote, which a redelivery skips and
the acknowledgement deletes.

The redis-py traps (docs/architecture.md, "Several nodes"): a blocking read on
a pooled connection outlives its cancellation, so each partition's reader has a
connection of its own, with no socket timeout shorter than its block; entries
are trimmed only once acknowledged (MINID), never by MAXLEN, which drops
pending ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import urllib.parse
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as redis
from pydantic import TypeAdapter, ValidationError
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError, ResponseError

from talkbox.events.bus import BusUnavailable, Delivery
from talkbox.events.fence import Fence
from talkbox.events.models import Event, partition_key

log = logging.getLogger(__name__)

PARTITIONS = 16
GROUP = "talkbox"
BLOCK_MS = 1000
READ_COUNT = 100
# Commands other than blocking reads: long enough for a busy server, short enough that a dead one says so.
SOCKET_TIMEOUT = 5.0
DEAD_LETTERS_KEPT = 1000
STOP_SECONDS = 2.0

_events: TypeAdapter[Event] = TypeAdapter(Event)

# Also says which process held the partition last (KEYS[3], never expiring): the same one, back
# after Redis was out of reach, still carries the partition's calls and must not resume them.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. epoch, 'PX', ARGV[2])
local previous = redis.call('GET', KEYS[3]) or ''
redis.call('SET', KEYS[3], ARGV[3])
return {epoch, previous}
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Fencing: only the holder of the lease the entry was read under may acknowledge it. The marks of the
# handlers that wrote under it (KEYS[3], events/fence.py) go with it: nobody will be handed it again.
_ACK = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[3])
return redis.call('XACK', KEYS[2], ARGV[2], ARGV[3])
"""


SENTINEL_SCHEME = "redis+sentinel"


@dataclass(frozen=True)
class SentinelAddress:
    """`redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/SERVICE[/DB]`: the sentinels to ask, and for what."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    password: str | None = None


def sentinel_address(url: str) -> SentinelAddress | None:
    """The URL's sentinels, None for a plain Redis URL; ValueError, naming what is wrong, for a bad one."""
    scheme, _, rest = url.partition("://")
    if scheme != SENTINEL_SCHEME:
        return None
    netloc, _, path = rest.partition("/")
    credentials, _, hosts = netloc.rpartition("@")
    password = urllib.parse.unquote(credentials.partition(":")[2]) or None
    sentinels = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"a sentinel is HOST:PORT, not {host!r} (in {SENTINEL_SCHEME}://HOST:PORT,.../SERVICE)")
        sentinels.append((name, int(port)))
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise ValueError(f"name the monitored service: {SENTINEL_SCHEME}://HOST:PORT/SERVICE[/DB]")
    if db and not db.isdigit():
        raise ValueError(f"the database is a number, not {db!r}")
    return SentinelAddress(tuple(sentinels), service, int(db or 0), password)


def redis_client(url: str, *, blocking: bool = False) -> redis.Redis:
    """A client for Talkbox's own use: a command fails within seconds, so a user is told to try again.

    A blocking reader gets no socket timeout (a timeout shorter than its block
    breaks the read); it needs a connection of its own anyway. With Sentinel,
    every connection asks the sentinels where the master is, so a failover is
    followed like a Redis restart.
    """
    options: dict[str, Any] = {
        "socket_timeout": None if blocking else SOCKET_TIMEOUT,
        "socket_connect_timeout": SOCKET_TIMEOUT,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
    }
    address = sentinel_address(url)
    if address is None:
        return redis.Redis.from_url(url, single_connection_client=blocking, **options)
    sentinel = Sentinel(
        address.sentinels,
        sentinel_kwargs={"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": SOCKET_TIMEOUT},
    )
    pool = SentinelConnectionPool(address.service, sentinel, db=address.db, password=address.password, **options)
    return redis.Redis(connection_pool=pool, single_connection_client=blocking)


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancel and wait, but not for ever: shutting down must not hang on one stuck reader."""
    task.cancel()
    await asyncio.wait({task}, timeout=STOP_SECONDS)


def _letter(fields: dict[str, str]) -> dict[str, str | int | float]:
    """A dead letter as stored (all strings) back in the shape the router's own have."""
    return {**fields, "attempts": int(fields.get("attempts", 0)), "at": float(fields.get("at", 0))}


def partition_of(key: str, partitions: int = PARTITIONS) -> int:
    return zlib.crc32(key.encode()) % partitions


@dataclass
class _Owned:
    """A partition this node holds: its lease token and its reader."""

    lease: str
    reader: asyncio.Task[None] | None = None
    # Handed to this node's handlers and not yet acknowledged: the sweep leaves these alone.
    in_flight: set[str] = field(default_factory=set)
    # Handled, but Redis did not take the acknowledgement: tried again every renewal.
    to_ack: set[str] = field(default_factory=set)


@dataclass
class RedisBus:
    url: str
    node_id: str
    lease: float = 5.0  # seconds
    partitions: int = PARTITIONS
    max_deliveries: int = 5
    prefix: str = "talkbox:"
    # Run when this process takes a partition from another one, before it handles any of its events.
    on_acquire: list[Callable[[int], Awaitable[None]]] = field(default_factory=list)
    # Whether a partition may move to another node now (no live call on it); None: never while running.
    can_release: Callable[[int], Awaitable[bool]] | None = None
    _client: redis.Redis | None = field(default=None, init=False, repr=False)
    _queue: asyncio.Queue[Delivery] = field(default_factory=asyncio.Queue, init=False, repr=False)
    _owned: dict[int, _Owned] = field(default_factory=dict, init=False, repr=False)
    _keeper: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _scripts: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    reachable: bool = field(default=False, init=False)
    # Draining (SIGTERM): takes nothing more, and hands each partition over once no call is live on it.
    leaving: bool = field(default=False, init=False)
    # This process, as opposed to the node's name, which a restarted process may keep.
    _incarnation: str = field(default_factory=lambda: uuid.uuid4().hex, init=False, repr=False)

    def stream(self, partition: int) -> str:
        return f"{self.prefix}bus:{partition}"

    def _lease_key(self, partition: int) -> str:
        return f"{self.prefix}lease:{partition}"

    def _applied_key(self, partition: int, entry_id: str | bytes) -> str:
        entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        return f"{self.prefix}applied:{partition}:{entry}"

    def _ack_keys(self, partition: int, entry_id: str | bytes) -> list[str]:
        return [self._lease_key(partition), self.stream(partition), self._applied_key(partition, entry_id)]

    @property
    def dead_key(self) -> str:
        return f"{self.prefix}dead"

    def partition_for(self, key: str) -> int:
        return partition_of(key, self.partitions)

    def owned(self) -> list[int]:
        return sorted(self._owned)

    @property
    def client(self) -> redis.Redis:
        assert self._client is not None, "the bus is not started"
        return self._client

    async def start(self) -> None:
        """Join: the groups exist, this node's first share is taken; raises if Redis cannot be reached."""
        self._client = redis_client(self.url)
        for name, script in (("acquire", _ACQUIRE), ("renew", _RENEW), ("release", _RELEASE), ("ack", _ACK)):
            self._scripts[name] = self.client.register_script(script)
        await self._make_groups()
        await self._tick()
        self._keeper = asyncio.create_task(self._keep())

    async def publish(self, event: Event) -> None:
        stream = self.stream(self.partition_for(partition_key(event)))
        try:
            await self.client.xadd(stream, {"e": event.model_dump_json()})
        except RedisError as error:
            raise BusUnavailable(f"the bus (Redis) did not take a {event.type}: {error}") from error

    async def deliveries(self) -> AsyncIterator[Delivery]:
        while True:
            yield await self._queue.get()

    async def ack(self, delivery: Delivery) -> bool:
        owned = self._owned.get(delivery.partition)
        mine = owned is not None and owned.lease == delivery.lease
        try:
            done = await self._scripts["ack"](
                keys=self._ack_keys(delivery.partition, str(delivery.id)), args=[delivery.lease, GROUP, delivery.id]
            )
        except RedisError as error:
            # Handled all the same: acknowledged at a later renewal rather than handed to the handlers again.
            log.warning("could not acknowledge %s on partition %d yet: %s", delivery.id, delivery.partition, error)
            if mine:
                owned.to_ack.add(str(delivery.id))  # type: ignore[union-attr]
            return False
        if mine:
            owned.in_flight.discard(str(delivery.id))  # type: ignore[union-attr]
        if done == -1:
            log.warning("partition %d moved before %s was acknowledged: its new owner hands it out again",
                        delivery.partition, delivery.id)  # fmt: skip
        return done == 1

    def fence(self, delivery: Delivery, handler: str) -> Fence:
        return Fence(
            self._lease_key(delivery.partition),
            delivery.lease,
            self._applied_key(delivery.partition, str(delivery.id)),
            handler,
        )

    async def applied(self, delivery: Delivery) -> frozenset[str]:
        """Asked only of a delivery handed out before: a first one has no marks, and costs no round trip."""
        if not delivery.redelivered:
            return frozenset()
        try:
            names = await self.client.hkeys(self._applied_key(delivery.partition, str(delivery.id)))
        except RedisError as error:  # the handlers run again; their writes fail too while Redis is away
            log.warning("could not read which handlers applied %s: %s", delivery.id, error)
            return frozenset()
        return frozenset(name.decode() for name in names)

    async def drained(self) -> None:
        """Cluster-wide: every partition read to its end and acknowledged; or at once if Redis cannot say.

        A node stopping while Redis is away must still stop: what it leaves unacknowledged is the next
        owner's to hand out again.
        """
        try:
            while not (self._queue.empty() and await self._all_handled()):
                await asyncio.sleep(0.01)
        except RedisError as error:
            log.warning("not waiting for the bus to drain: Redis cannot say (%s)", error)

    async def unacknowledged(self) -> int:
        groups = [await self.client.xinfo_groups(self.stream(p)) for p in range(self.partitions)]
        return sum(int(group["pending"]) for listing in groups for group in listing)

    async def record_dead_letter(self, letter: dict[str, str | int | float]) -> None:
        """Keep a dead letter cluster-wide: the router's (a handler gave up) and the bus's own alike."""
        transaction = self.client.pipeline(transaction=True)
        transaction.xadd(self.dead_key, {k: str(v) for k, v in letter.items()}, maxlen=DEAD_LETTERS_KEPT)
        transaction.incr(f"{self.prefix}dead-total")
        await transaction.execute()

    async def dead_letters(self, limit: int) -> tuple[int, list[dict[str, str | int | float]]]:
        """How many there have been on every node, and the newest `limit`, newest first (no payloads)."""
        total = int(await self.client.get(f"{self.prefix}dead-total") or 0)
        entries = await self.client.xrevrange(self.dead_key, count=limit) if limit > 0 else []
        return total, [_letter({k.decode(): v.decode() for k, v in fields.items()}) for _id, fields in entries]

    def leave(self) -> None:
        """Start draining: from the next renewal on, each partition goes to the others once no call is live on it."""
        self.leaving = True

    async def close(self) -> None:
        """Leave: stop reading, hand the leases back at once (others need not wait for them to expire)."""
        if self._keeper is not None:
            await _stop(self._keeper)
        for partition in list(self._owned):
            await self._let_go(partition, release=True)
        if self._client is not None:
            with contextlib.suppress(RedisError):
                await self.client.zrem(f"{self.prefix}nodes", self.node_id)
            await self.client.aclose()
            self._client = None

    async def _all_handled(self) -> bool:
        for partition in range(self.partitions):
            for group in await self.client.xinfo_groups(self.stream(partition)):
                if group["name"] == GROUP.encode() and (group["pending"] or group["lag"]):
                    return False
        return True

    async def _make_groups(self) -> None:
        """Each partition's stream and consumer group, unless they exist: at start, and after a Redis that came
        back empty (restarted without its append-only file, or flushed), whose every read says NOGROUP."""
        for partition in range(self.partitions):
            with contextlib.suppress(ResponseError):  # BUSYGROUP: another node made it first
                await self.client.xgroup_create(self.stream(partition), GROUP, id="0", mkstream=True)

    async def _keep(self) -> None:
        """Renew, take and trim every third of a lease; a Redis outage is logged and waited out."""
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self._tick()
            except RedisError as error:
                self.reachable = False
                log.warning("Redis unreachable while keeping the bus's leases: %s", error)
                if _no_group(error):
                    with contextlib.suppress(RedisError):
                        await self._make_groups()

    async def _tick(self) -> None:
        live = await self._heartbeat()
        for partition, owned in list(self._owned.items()):
            renewed = await self._scripts["renew"](
                keys=[self._lease_key(partition)], args=[owned.lease, int(self.lease * 1000)]
            )
            if not renewed:
                log.warning("lost the lease on partition %d: another node owns it now", partition)
                await self._let_go(partition, release=False)
            else:
                await self._ack_again(partition, owned)
                await self._sweep(partition, owned)
                await self._trim(partition)
        share = 0 if self.leaving else math.ceil(self.partitions / live)
        start = partition_of(self.node_id, self.partitions)  # nodes starting together try different ones first
        for step in range(self.partitions):
            if len(self._owned) >= share:
                break
            partition = (start + step) % self.partitions
            if partition not in self._owned:
                await self._try_acquire(partition)
        await self._shed(share)
        self.reachable = True

    async def _shed(self, share: int) -> None:
        """Above this node's share (another joined, or this one is leaving): hand over the partitions no live
        call depends on."""
        if self.can_release is None:
            return
        for partition in sorted(self._owned, reverse=True):
            if len(self._owned) <= share:
                return
            if await self.can_release(partition):
                await self._hand_over(partition)

    async def _hand_over(self, partition: int) -> None:
        """Stop reading, let what was read be handled, and release; or read on if a call started meanwhile."""
        owned = self._owned[partition]
        if owned.reader is not None:
            await _stop(owned.reader)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lease / 3
        while (pending := (await self.client.xpending(self.stream(partition), GROUP))["pending"]) and (
            loop.time() < deadline
        ):
            await asyncio.sleep(0.02)
        if not pending and await self.can_release(partition):  # type: ignore[misc]
            await self._let_go(partition, release=True)
            log.info("handed partition %d of the bus over", partition)
            return
        owned.reader = asyncio.create_task(self._read(partition, owned, hooks=False, claim=False))

    async def _heartbeat(self) -> int:
        """How many nodes are alive (this one included, unless leaving): those that beat within a lease, as an owner
        must renew."""
        seconds, micros = await self.client.time()
        now = seconds + micros / 1e6
        nodes = f"{self.prefix}nodes"
        if self.leaving:  # not counted: the others' shares grow to take every partition this one hands over
            await self.client.zrem(nodes, self.node_id)
        else:
            await self.client.zadd(nodes, {self.node_id: now})
        await self.client.zremrangebyscore(nodes, "-inf", now - self.lease)
        return max(1, await self.client.zcard(nodes))

    async def _try_acquire(self, partition: int) -> None:
        taken = await self._scripts["acquire"](
            keys=[self._lease_key(partition), f"{self.prefix}epoch:{partition}", f"{self.prefix}holder:{partition}"],
            args=[self.node_id, int(self.lease * 1000), self._incarnation],
        )
        if taken is None:
            return
        epoch, previous = taken
        owned = _Owned(lease=f"{self.node_id}:{epoch}")
        self._owned[partition] = owned
        back = previous.decode() == self._incarnation
        owned.reader = asyncio.create_task(self._read(partition, owned, hooks=not back, claim=True))
        log.info("%s partition %d of the bus (epoch %s)", "took back" if back else "took", partition, epoch)

    async def _let_go(self, partition: int, *, release: bool) -> None:
        owned = self._owned.pop(partition, None)
        if owned is None:
            return
        if owned.reader is not None:
            await _stop(owned.reader)
        if release:
            with contextlib.suppress(RedisError):
                await self._scripts["release"](keys=[self._lease_key(partition)], args=[owned.lease])

    async def _ack_again(self, partition: int, owned: _Owned) -> None:
        for entry_id in sorted(owned.to_ack):
            await self._scripts["ack"](keys=self._ack_keys(partition, entry_id), args=[owned.lease, GROUP, entry_id])
            owned.to_ack.discard(entry_id)
            owned.in_flight.discard(entry_id)

    async def _sweep(self, partition: int, owned: _Owned) -> None:
        """Hand out again what is pending on a partition this node owns and its handlers never got.

        Taking a partition claims what was pending then; this catches what becomes pending after: a read
        cut short (the reader stopped for a hand-over, or Redis going away mid-reply) leaves entries
        under this node that no handler saw, and a former owner's reader, reconnecting after a Redis
        restart before it learns its lease is gone, reads entries under its own name. Nothing else
        would ever take them while this node keeps the partition.
        """
        stream = self.stream(partition)
        pending = await self.client.xpending_range(
            stream, GROUP, min="-", max="+", count=READ_COUNT, idle=int(self.lease * 1000)
        )
        lost = [p["message_id"] for p in pending if p["message_id"].decode() not in owned.in_flight]
        if not lost:
            return
        log.warning("partition %d: %d entries delivered, never handled; handed out again", partition, len(lost))
        claimed = await self.client.xclaim(stream, GROUP, self.node_id, min_idle_time=0, message_ids=lost)
        for entry_id, fields in claimed:
            if fields and not await self._delivered_too_often(partition, owned, entry_id, fields):
                await self._hand(partition, owned, entry_id, fields, again=True)

    async def _trim(self, partition: int) -> None:
        """Drop what has been read and acknowledged: everything before the oldest entry still pending."""
        stream = self.stream(partition)
        summary = await self.client.xpending(stream, GROUP)
        if summary["pending"]:
            oldest = summary["min"]
        else:
            groups = await self.client.xinfo_groups(stream)
            oldest = next((g["last-delivered-id"] for g in groups if g["name"] == GROUP.encode()), None)
        if oldest:
            await self.client.xtrim(stream, minid=oldest, approximate=False)

    async def _read(self, partition: int, owned: _Owned, *, hooks: bool, claim: bool) -> None:
        """This partition's reader, on its own connection: hooks, then what was left pending, then new entries."""
        connection = redis_client(self.url, blocking=True)
        try:
            for hook in self.on_acquire if hooks else ():
                try:
                    await hook(partition)
                except Exception:
                    log.exception("taking partition %d: a hook failed; its events are handled anyway", partition)
            if claim and not await self._retrying(partition, owned, lambda: self._claim(partition, owned)):
                return
            await self._retrying(partition, owned, lambda: self._read_new(connection, partition, owned))
        finally:
            # A blocking read cut short can leave its connection busy; closing it must not hang the reader.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.aclose(), STOP_SECONDS)

    async def _retrying(self, partition: int, owned: _Owned, step: Callable[[], Awaitable[None]]) -> bool:
        """Run `step` until it succeeds; False once the lease is gone (Redis back after a restart that outlived
        it), so the reader stops instead of reading entries another node now owns."""
        while True:
            try:
                await step()
                return True
            except RedisError as error:
                log.warning("reading partition %d: %s; trying again", partition, error)
                await asyncio.sleep(min(1.0, self.lease / 3))
                if _no_group(error):
                    with contextlib.suppress(RedisError):
                        await self._make_groups()
            with contextlib.suppress(RedisError):
                if (await self.client.get(self._lease_key(partition))) != owned.lease.encode():
                    log.warning("partition %d: the lease went while Redis was away; reading stops", partition)
                    return False

    async def _claim(self, partition: int, owned: _Owned) -> None:
        """Take over what an earlier owner was handed and never acknowledged, oldest first."""
        stream, start = self.stream(partition), "0-0"
        while True:
            reply = await self.client.xautoclaim(
                stream, GROUP, self.node_id, min_idle_time=0, start_id=start, count=100
            )
            start, entries = reply[0], reply[1]
            for entry_id, fields in entries:
                if fields is None:
                    continue
                if await self._delivered_too_often(partition, owned, entry_id, fields):
                    continue
                await self._hand(partition, owned, entry_id, fields, again=True)
            if start in (b"0-0", "0-0"):
                return

    async def _delivered_too_often(self, partition: int, owned: _Owned, entry_id: bytes, fields: Any) -> bool:
        [pending] = await self.client.xpending_range(
            self.stream(partition), GROUP, min=entry_id, max=entry_id, count=1
        ) or [None]
        if pending is None or pending["times_delivered"] <= self.max_deliveries:
            return False
        times = pending["times_delivered"]
        await self._bury(partition, owned, entry_id, fields, f"handed out {times} times, never acknowledged", times)
        return True

    async def _read_new(self, connection: redis.Redis, partition: int, owned: _Owned) -> None:
        stream = self.stream(partition)
        while True:
            reply = await connection.xreadgroup(GROUP, self.node_id, {stream: ">"}, count=READ_COUNT, block=BLOCK_MS)
            for _stream, entries in reply or ():
                for entry_id, fields in entries:
                    await self._hand(partition, owned, entry_id, fields)

    async def _hand(
        self, partition: int, owned: _Owned, entry_id: bytes, fields: dict[bytes, bytes], *, again: bool = False
    ) -> None:
        try:
            event = _events.validate_json(fields[b"e"])
        except (KeyError, ValidationError) as error:
            # Buried by the reader itself: a task of its own would outlive the bus's close.
            await self._bury(partition, owned, entry_id, fields, f"unreadable: {type(error).__name__}")
            return
        owned.in_flight.add(entry_id.decode())
        self._queue.put_nowait(Delivery(entry_id.decode(), event, partition, owned.lease, redelivered=again))

    async def _bury(
        self, partition: int, owned: _Owned, entry_id: bytes, fields: Any, why: str, attempts: int = 1
    ) -> None:
        """A dead letter, cluster-wide: named by its type and key, never its payload (SDP, names)."""
        try:
            event = _events.validate_json(fields[b"e"])
            kind, key = event.type, partition_key(event)
        except (KeyError, ValidationError):
            kind, key = "unreadable", "?"
        log.error("dead letter on partition %d: %s (%s) %s", partition, kind, key, why)
        await self.record_dead_letter(
            {"event_type": kind, "key": key, "handler": "bus", "error": why, "attempts": attempts, "at": time.time()}
        )
        await self._scripts["ack"](keys=self._ack_keys(partition, entry_id), args=[owned.lease, GROUP, entry_id])


def _no_group(error: RedisError) -> bool:
    return isinstance(error, ResponseError) and str(error).startswith("NOGROUP")
