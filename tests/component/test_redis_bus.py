"""The Redis bus across nodes: takeover, fencing, dead letters and hand-over, with real processes.

The other node is a process of its own (tests/support/bus_node.py) that the test
kills with SIGKILL, freezes with SIGSTOP or stops with SIGTERM, against a real
redis-server. The node in the test's loop is a RedisBus like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.exceptions import RedisError

from talkbox.events import BusUnavailable, Delivery, Event, LegStatusChanged
from talkbox.events.redis_bus import PARTITIONS, RedisBus
from talkbox.router import Router
from tests.support.node_process import NodeProcess, node_process
from tests.support.redis_server import redis_server
from tests.support.server import running_app

LEASE = 1.0


def report(conference: str, sequence: int) -> LegStatusChanged:
    return LegStatusChanged(conference_id=conference, leg_id="l", status="ringing", sequence=sequence)


def node(url: str, name: str, mode: str) -> contextlib.AbstractAsyncContextManager[NodeProcess]:
    return node_process("tests.support.bus_node", url, name, str(LEASE), mode)


@contextlib.asynccontextmanager
async def local_bus(url: str, **options: Any) -> AsyncIterator[RedisBus]:
    bus = RedisBus(url, node_id="local", **{"lease": LEASE, **options})
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


async def next_delivery(bus: RedisBus, timeout: float) -> Delivery:
    async with asyncio.timeout(timeout):
        return await anext(bus.deliveries())


async def test_an_event_a_killed_owner_held_is_handed_to_the_next_owner_within_the_lease(redis_url: str) -> None:
    async with node(redis_url, "one", "hold") as one, local_bus(redis_url) as two:
        assert two.owned() == []  # ownership is sticky: the first node keeps its calls' partitions
        await two.publish(report("c-x", 1))
        held = await one.line()
        assert held["got"] == "leg_status_changed"
        one.signal(signal.SIGKILL)
        killed = time.monotonic()
        delivery = await next_delivery(two, timeout=3 * LEASE)
        took = time.monotonic() - killed
        assert delivery.id == held["id"]  # the same entry, handed out again, not a copy
        assert delivery.event == report("c-x", 1)
        assert took < 2 * LEASE, took
        assert len(two.owned()) == PARTITIONS
        assert await two.ack(delivery)
        assert await two.unacknowledged() == 0


@pytest.mark.parametrize("reader", ["local", "former-owner"])
async def test_an_entry_redis_delivered_and_no_handler_got_is_handed_out_again(redis_url: str, reader: str) -> None:
    """A read cut short (a hand-over stopping the reader, Redis going away mid-reply) leaves an entry pending
    under this node that no handler saw; a former owner reconnecting after a Redis restart reads one under its
    own name after the partition moved. The owner finds either within a few renewals."""
    async with local_bus(redis_url) as bus:
        await bus.publish(report("c-x", 1))
        delivery = await next_delivery(bus, timeout=2)
        assert await bus.ack(delivery)
        partition = bus.partition_for("conference:c-x")
        # What a cut-short read leaves: Redis handed the entry to this consumer, and nothing reached the node
        # (in one transaction, so the node's own blocked reader cannot be served first).
        transaction = bus.client.pipeline(transaction=True)
        transaction.xadd(bus.stream(partition), {"e": report("c-x", 2).model_dump_json()})
        transaction.xreadgroup("talkbox", reader, {bus.stream(partition): ">"}, count=1)
        await transaction.execute()
        lost = await next_delivery(bus, timeout=4 * LEASE)
        assert lost.event == report("c-x", 2)
        assert await bus.ack(lost)
        assert await bus.unacknowledged() == 0


async def test_an_acknowledgement_redis_missed_is_made_when_it_is_back_not_handled_twice(tmp_path: Path) -> None:
    with redis_server(tmp_path, persistent=True) as store:
        async with local_bus(store.url, lease=5.0) as bus:  # a lease that outlives the outage: nothing moves
            await bus.publish(report("c-x", 1))
            delivery = await next_delivery(bus, timeout=2)
            store.stop()
            assert not await bus.ack(delivery)
            store.start()
            async with asyncio.timeout(10):
                while await _unacknowledged(bus):
                    await asyncio.sleep(0.1)
            with pytest.raises(TimeoutError):
                await next_delivery(bus, timeout=1)


async def _unacknowledged(bus: RedisBus) -> int:
    with contextlib.suppress(RedisError):
        return await bus.unacknowledged()
    return -1


async def test_a_frozen_owner_cannot_acknowledge_what_its_successor_took(redis_url: str) -> None:
    async with node(redis_url, "one", "ack-on-line") as one, local_bus(redis_url) as two:
        await two.publish(report("c-x", 1))
        held = await one.line()
        one.signal(signal.SIGSTOP)  # a GC pause, a frozen VM: alive, but past its lease
        delivery = await next_delivery(two, timeout=3 * LEASE)
        assert delivery.id == held["id"]
        assert await two.ack(delivery)
        one.signal(signal.SIGCONT)
        await one.say("ack")
        assert await one.line() == {"acked": held["id"], "ok": False}
        assert await two.unacknowledged() == 0


async def test_an_event_its_consumers_keep_dying_on_becomes_a_dead_letter(redis_url: str) -> None:
    async with node(redis_url, "one", "hold") as one, local_bus(redis_url, max_deliveries=1) as two:
        await two.publish(report("c-x", 1))
        await one.line()
        one.signal(signal.SIGKILL)
        async with asyncio.timeout(3 * LEASE):
            while not (letters := await two.dead_letters(10))[1]:
                await asyncio.sleep(0.05)
        total, [letter] = letters
        assert total == 1
        assert (letter["event_type"], letter["key"], letter["handler"]) == (
            "leg_status_changed",
            "conference:c-x",
            "bus",
        )
        assert "sdp" not in json.dumps(letter) and "ringing" not in json.dumps(letter)  # no payload
        with pytest.raises(TimeoutError):
            await next_delivery(two, timeout=0.5)
        assert await two.unacknowledged() == 0


async def test_a_node_that_stops_hands_its_partitions_over_at_once(redis_url: str) -> None:
    lease = 5.0  # long, so only the hand-over, not the expiry, can explain a quick takeover
    async with node(redis_url, "one", "ack") as one:
        bus = RedisBus(redis_url, node_id="local", lease=lease)
        await bus.start()
        try:
            assert bus.owned() == []
            one.signal(signal.SIGTERM)
            assert (await one.line())["closed"] is True
            stopped = time.monotonic()
            async with asyncio.timeout(lease):
                while len(bus.owned()) < PARTITIONS:
                    await asyncio.sleep(0.05)
            assert time.monotonic() - stopped < lease / 3 + 1
            await bus.publish(report("c-y", 1))
            assert (await next_delivery(bus, timeout=2)).event == report("c-y", 1)
        finally:
            await bus.close()


async def test_nodes_starting_together_share_the_partitions(redis_url: str) -> None:
    one = RedisBus(redis_url, node_id="one", lease=LEASE)
    two = RedisBus(redis_url, node_id="two", lease=LEASE)
    await one.start()
    await two.start()
    try:
        async with asyncio.timeout(3 * LEASE):
            while len(one.owned()) + len(two.owned()) < PARTITIONS:
                await asyncio.sleep(0.05)
        assert not set(one.owned()) & set(two.owned())
    finally:
        await one.close()
        await two.close()


async def test_an_entry_no_event_can_be_read_from_is_a_dead_letter_and_those_after_it_flow(redis_url: str) -> None:
    """Something else wrote to a partition's stream (or an older Talkbox wrote what this one cannot read)."""
    async with local_bus(redis_url) as bus:
        partition = bus.partition_for("conference:c-x")
        await bus.client.xadd(bus.stream(partition), {"e": b'{"type": "no_such_event"}'})
        await bus.publish(report("c-x", 1))
        delivery = await next_delivery(bus, timeout=5)
        assert delivery.event == report("c-x", 1)  # the unreadable one is never handed to a handler
        assert await bus.ack(delivery)
        total, [letter] = await bus.dead_letters(10)
        assert total == 1
        assert (letter["event_type"], letter["key"], letter["error"]) == (
            "unreadable",
            "?",
            "unreadable: ValidationError",
        )
        assert await bus.unacknowledged() == 0  # buried and acknowledged, not left pending


async def test_a_handler_giving_up_on_one_node_is_a_dead_letter_every_node_shows(redis_url: str) -> None:
    class Failing:
        handles = (LegStatusChanged,)

        async def handle(self, event: Event) -> None:
            raise RuntimeError("store down")

    async with local_bus(redis_url) as one:  # started first: it owns every partition, so it handles the event
        router = Router(one, [Failing()], attempts=2, backoff=0.001, share_dead_letter=one.record_dead_letter)
        router.start()
        try:
            async with running_app(redis_url=redis_url, node_id="two", redis_lease=LEASE, media_workers=0) as (url, _):
                await one.publish(report("c-x", 1))
                await asyncio.wait_for(one.drained(), 5)
                async with httpx.AsyncClient() as client:
                    answer = (await client.get(f"{url}/api/dead-letters")).json()
        finally:
            await router.stop()
    assert answer["total"] == 1
    [letter] = answer["dead_letters"]
    assert (letter["event_type"], letter["key"], letter["handler"], letter["attempts"]) == (
        "leg_status_changed",
        "conference:c-x",
        "Failing",
        2,
    )
    assert letter["error"] == "RuntimeError: store down"


async def test_a_redis_that_comes_back_empty_gets_its_groups_again_and_events_flow(tmp_path: Path) -> None:
    """Redis restarted without its append-only file (or flushed): the streams and groups are gone with it."""
    with redis_server(tmp_path, persistent=False) as store:
        async with local_bus(store.url) as bus:
            await bus.publish(report("c-x", 1))
            assert await bus.ack(await next_delivery(bus, timeout=2))
            store.stop()
            store.start()
            async with asyncio.timeout(10):
                while True:
                    with contextlib.suppress(BusUnavailable):
                        await bus.publish(report("c-x", 2))
                        break
                    await asyncio.sleep(0.1)
            delivery = await next_delivery(bus, timeout=10 * LEASE)
            assert delivery.event == report("c-x", 2)
            assert await bus.ack(delivery)
