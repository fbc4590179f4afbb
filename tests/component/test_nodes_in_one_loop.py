"""Two Talkbox nodes on one Redis, in the test's loop: a call across them, the push, replay, presence.

The first node to start owns every partition of the bus (ownership is sticky),
so a call is decided and its media carried there, whichever node holds the
pages' sockets. tests/component/test_nodes.py runs them as processes behind nginx.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import websockets
from fastapi import FastAPI

from talkbox.events.models import conference_key
from talkbox.events.redis_bus import partition_of, redis_client
from talkbox.ui.user_streams import Parcel
from tests.support.peer import Peer, connect
from tests.support.server import running_app

ALICE_HZ, BOB_HZ = 440.0, 880.0


@contextlib.asynccontextmanager
async def two_nodes(redis_url: str) -> AsyncIterator[tuple[tuple[str, FastAPI], tuple[str, FastAPI]]]:
    common = {"redis_url": redis_url, "redis_lease": 1.0, "media_workers": 0, "voicemail": False}
    async with running_app(node_id="one", **common) as one, running_app(node_id="two", **common) as two:
        yield one, two


async def test_alice_on_one_node_calls_bob_on_the_other_and_they_hear_each_other(redis_url: str) -> None:
    async with (
        two_nodes(redis_url) as ((one_url, _one), (two_url, _two)),
        Peer(two_url, "alice", ALICE_HZ) as alice,
        Peer(one_url, "bob", BOB_HZ) as bob,
    ):
        await connect(alice, bob)
        sequences = [m["seq"] for m in alice.messages if "seq" in m]
        assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
        await alice.hang_up()
        await bob.wait_for(lambda: bob.last_conference()["status"] == "ended")
        assert bob.last_conference()["end_reason"] == "hung-up"


async def test_a_page_back_with_its_last_sequence_gets_what_it_missed(redis_url: str) -> None:
    async with two_nodes(redis_url) as ((one_url, _one), (two_url, _two)), Peer(one_url, "bob", BOB_HZ) as bob:
        async with Peer(two_url, "alice", ALICE_HZ) as alice:
            await alice.call("bob")
            await bob.wait_for(lambda: bob.offers)
            await alice.wait_for(lambda: alice.conferences and alice.last_seq is not None)
            seen = alice.last_seq
        await bob.reject()  # while alice is between sockets: her page misses the end of the call
        await bob.wait_for(lambda: bob.conferences and bob.my_leg(bob.last_conference())["status"] == "busy")
        async with Peer(one_url, "alice", ALICE_HZ, since=seen) as back:
            await back.wait_for(lambda: back.conferences and back.last_conference()["status"] == "ended")
            replayed = [m["seq"] for m in back.messages if m.get("seq", 0) > seen]
            # From the first missed, none skipped but directory news, which a page gets only once it asks.
            news = await directory_news(redis_url, "alice")
            assert replayed == [n for n in range(seen + 1, replayed[-1] + 1) if n not in news]
            assert back.last_conference()["end_reason"] == "busy"


async def directory_news(redis_url: str, user: str) -> set[int]:
    """The sequence numbers of the user's messages that are directory news (they name whom they are about)."""
    client = redis_client(redis_url)
    try:
        entries = await client.xrange(f"talkbox:outbox:{user}")
    finally:
        await client.aclose()
    return {int(entry_id.decode().split("-")[1]) for entry_id, fields in entries if fields.get(b"a")}


async def test_a_page_that_missed_more_than_is_kept_is_told_to_resync(redis_url: str) -> None:
    async with two_nodes(redis_url) as ((one_url, one), _two):
        streams = one.state.talkbox.gateway.streams
        for _ in range(600):  # past the 500 kept
            await streams.send(Parcel("alice", '{"type":"filler"}'))
        async with Peer(one_url, "alice", ALICE_HZ, since=3) as alice:
            await alice.wait_for(lambda: any(m["type"] == "resync" for m in alice.messages))
            assert not [m for m in alice.messages if m.get("seq", 600) < 600]


async def test_someone_who_came_online_under_another_owner_is_rung_not_unavailable(redis_url: str) -> None:
    """Presence is cluster-wide: the node that takes over never saw bill's page arrive, yet knows he is online."""
    common = {"redis_url": redis_url, "redis_lease": 1.0, "media_workers": 0}
    # bill's arrival is handled by node one: his partition is among the low ones it keeps when sharing.
    assert partition_of("user:bill") < 8
    first = running_app(node_id="one", **common)
    await first.__aenter__()
    try:
        async with running_app(node_id="two", **common) as (two_url, two):
            async with asyncio.timeout(5):
                while len(two.state.talkbox.bus.owned()) < 8:
                    await asyncio.sleep(0.05)
            async with Peer(two_url, "bill", BOB_HZ) as bill:
                await asyncio.sleep(0.3)
                await first.__aexit__(None, None, None)
                first = None
                async with asyncio.timeout(5):
                    while len(two.state.talkbox.bus.owned()) < 16:
                        await asyncio.sleep(0.05)
                async with Peer(two_url, "alice", ALICE_HZ) as alice:
                    await alice.call("bill")
                    await bill.wait_for(lambda: bill.offers)
                    assert not alice.refusals()
    finally:
        if first is not None:
            await first.__aexit__(None, None, None)


async def test_a_users_sockets_are_capped_across_the_nodes(redis_url: str) -> None:
    common = {"redis_url": redis_url, "redis_lease": 1.0, "media_workers": 0, "max_sockets_per_user": 2}
    async with (
        running_app(node_id="one", **common) as (one_url, _one),
        running_app(node_id="two", **common) as (two_url, _two),
        Peer(one_url, "alice", ALICE_HZ),
        Peer(two_url, "alice", ALICE_HZ),
    ):
        for url in (one_url, two_url):
            async with websockets.connect(f"{url.replace('http', 'ws', 1)}/ws?client_name=alice") as third:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(third.recv(), 5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
        async with Peer(one_url, "bob", BOB_HZ):  # someone else is not counted against her
            pass


async def test_a_newer_node_takes_the_idle_partitions_and_the_calls_placed_on_them(redis_url: str) -> None:
    """A live call's partition stays where its media is; the others move, and new calls go to either node."""
    common = {"redis_url": redis_url, "redis_lease": 1.0, "media_workers": 0, "voicemail": False}
    async with (
        running_app(node_id="one", **common) as (one_url, one),
        Peer(one_url, "alice", ALICE_HZ) as alice,
        Peer(one_url, "bob", BOB_HZ) as bob,
    ):
        await connect(alice, bob)
        live = partition_of(conference_key(alice.active_conference()["id"]))
        async with running_app(node_id="two", **common) as (two_url, two):
            async with asyncio.timeout(5):
                while len(two.state.talkbox.bus.owned()) < 8:
                    await asyncio.sleep(0.05)
            assert live in one.state.talkbox.bus.owned()
            assert len(one.state.talkbox.bus.owned()) == 8
            bob.heard.clear()
            await bob.wait_for(lambda: len(bob.heard) > 20 and bob.level(ALICE_HZ) > -20)

            async with Peer(two_url, "carol", ALICE_HZ) as carol, Peer(one_url, "dave", BOB_HZ) as dave:
                for _ in range(12):  # each call's id is random: until one lands on a partition node two took
                    await carol.call("dave")
                    await dave.wait_for(lambda: dave.offers)
                    offer = next(iter(dave.offers.values()))
                    on_two = partition_of(conference_key(offer["conference_id"])) in two.state.talkbox.bus.owned()
                    await dave.reject()
                    await carol.wait_for(lambda: carol.last_conference()["status"] == "ended")
                    if on_two:
                        break
                assert on_two
                assert offer["leg_id"] not in one.state.talkbox.provider.legs


async def test_a_page_reloaded_while_it_rings_rings_again_whichever_node_has_the_call(redis_url: str) -> None:
    """bill's presence is handled on node one (his partition), his ringing leg lives on node two (the call's)."""
    common = {"redis_url": redis_url, "redis_lease": 1.0, "media_workers": 0}
    async with (
        running_app(node_id="one", **common) as (one_url, one),
        running_app(node_id="two", **common) as (two_url, two),
    ):
        async with asyncio.timeout(5):
            while len(two.state.talkbox.bus.owned()) < 8:
                await asyncio.sleep(0.05)
        assert partition_of("user:bill") in one.state.talkbox.bus.owned()
        async with Peer(one_url, "alice", ALICE_HZ) as alice:
            for _ in range(12):  # until a call lands on a partition of node two
                async with Peer(two_url, "bill", BOB_HZ) as bill:
                    await alice.call("bill")
                    await bill.wait_for(lambda: bill.offers)
                    offer = next(iter(bill.offers.values()))
                if partition_of(conference_key(offer["conference_id"])) in two.state.talkbox.bus.owned():
                    break
                await alice.hang_up()
                await alice.wait_for(lambda: alice.last_conference()["status"] == "ended")
            async with Peer(one_url, "bill", BOB_HZ) as reloaded:
                await reloaded.wait_for(lambda: reloaded.offers)
                assert next(iter(reloaded.offers.values()))["leg_id"] == offer["leg_id"]


async def test_the_calls_budget_is_one_for_a_users_pages_on_every_node(redis_url: str) -> None:
    common = {"redis_url": redis_url, "redis_lease": 1.0, "media_workers": 0, "max_calls_per_minute": 3}
    async with (
        running_app(node_id="one", **common) as (one_url, _one),
        running_app(node_id="two", **common) as (two_url, _two),
        Peer(one_url, "alice", ALICE_HZ) as here,
        Peer(two_url, "alice", ALICE_HZ) as there,
    ):
        for page in (here, there, here, there):
            await page.call("+441234567890")  # refused at once by the built-in engine: only the budget is at stake
        await there.wait_for(lambda: any(m.get("code") == "rate_limited" for m in there.messages))
        limited = [m for page in (here, there) for m in page.messages if m.get("code") == "rate_limited"]
        assert len(limited) == 1 and "3 calls a minute" in limited[0]["message"]
