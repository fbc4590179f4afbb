"""A handler's write and its delivery, across nodes on a real redis-server: one step, fenced by the lease.

The other node (tests/support/call_node.py) runs the real router, CallHandler
and RedisStore in a process the test kills or freezes; the node in the test's
loop takes its partitions over. What is checked is what a user on the call
would notice: whether bob's leg is muted after he muted and unmuted himself.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

from talkbox.events import UserMutesLeg
from talkbox.events.redis_bus import PARTITIONS, RedisBus, redis_client
from talkbox.router import Router
from talkbox.telephony.handler import CallHandler
from talkbox.telephony.model import Conference, Leg
from talkbox.telephony.redis_store import RedisStore
from tests.support.call_node import NoMedia
from tests.support.node_process import NodeProcess, node_process

LEASE = 1.0
CALL = Conference("c-fenced", "l-alice", (Leg("l-alice", "alice", "in-progress"), Leg("l-bob", "bob", "in-progress")))


def mute(muted: bool) -> UserMutesLeg:
    return UserMutesLeg(user="bob", conference_id=CALL.id, leg_id="l-bob", muted=muted)


def call_node(url: str, mode: str) -> contextlib.AbstractAsyncContextManager[NodeProcess]:
    return node_process("tests.support.call_node", url, "one", str(LEASE), mode)


@contextlib.asynccontextmanager
async def taking_over(url: str) -> AsyncIterator[tuple[RedisBus, RedisStore]]:
    """This loop's node: the same router, handler and store, on a bus that takes what the other leaves."""
    bus = RedisBus(url, node_id="two", lease=LEASE)
    client = redis_client(url)
    store = RedisStore(client)
    await bus.start()
    router = Router(bus, (CallHandler(store=store, providers={"browser": NoMedia()}, publish=bus.publish),), size=1)
    router.start()
    try:
        yield bus, store
    finally:
        await router.stop()
        await bus.close()
        await client.aclose()


async def seeded(url: str) -> None:
    """alice and bob on a call, as the store keeps it."""
    client = redis_client(url)
    await RedisStore(client).put(CALL, {"input": "seeded"})
    await client.aclose()


async def bob_muted(store: RedisStore) -> bool:
    conference = await store.get(CALL.id)
    assert conference is not None
    return conference.leg("l-bob").muted


async def settled(bus: RedisBus, timeout: float = 10.0) -> None:
    """Every partition owned here and nothing left unacknowledged."""
    async with asyncio.timeout(timeout):
        while len(bus.owned()) < PARTITIONS or await bus.unacknowledged():
            await asyncio.sleep(0.05)


async def test_a_mute_written_and_never_acknowledged_is_not_applied_again_after_a_later_unmute(redis_url: str) -> None:
    """bob mutes, then unmutes. The node applied both, but the mute's acknowledgement never reached Redis and
    the node was killed before trying again: its successor is handed the mute again, after the unmute. It must
    find the mute applied (marked in the write's own step) and only acknowledge it: bob stays unmuted."""
    await seeded(redis_url)
    async with call_node(redis_url, "lose-first-ack") as one, taking_over(redis_url) as (bus, store):
        await bus.publish(mute(True))
        await bus.publish(mute(False))
        lost = (await one.line())["lost"]
        assert (await one.line())["ok"]  # the unmute, acknowledged
        assert not await bob_muted(store)
        one.signal(signal.SIGKILL)
        await settled(bus)
        assert not await bob_muted(store)
        causes = [cause["input"] for cause in await store.events_of(CALL.id)]
        assert causes == ["seeded", "Mute", "Mute"]  # each applied once: nothing written for the redelivery
        partition = bus.partition_for(f"conference:{CALL.id}")
        assert not await bus.client.exists(f"talkbox:applied:{partition}:{lost}")  # the marks went with the ack


async def test_a_node_frozen_mid_event_cannot_write_once_its_successor_moved_the_call_on(redis_url: str) -> None:
    """A node freezes (a GC pause, a stopped VM) holding bob's mute, before writing it. Its successor takes the
    partition, applies the mute and then bob's unmute. The frozen node wakes and finishes the mute: its write is
    refused (its lease is gone), and so is its acknowledgement; bob stays unmuted."""
    await seeded(redis_url)
    async with call_node(redis_url, "hold-first") as one, taking_over(redis_url) as (bus, store):
        await bus.publish(mute(True))
        assert (await one.line())["holding"] == "user_mutes_leg"
        one.signal(signal.SIGSTOP)
        await settled(bus)
        assert await bob_muted(store)
        await bus.publish(mute(False))
        await settled(bus)
        assert not await bob_muted(store)
        one.signal(signal.SIGCONT)
        await one.say("go")
        assert (await one.line())["ok"] is False
        assert not await bob_muted(store)
        causes = [cause["input"] for cause in await store.events_of(CALL.id)]
        assert causes == ["seeded", "Mute", "Mute"]
