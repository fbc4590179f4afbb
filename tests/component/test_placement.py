"""Two nodes in the test's loop: a new call's media goes to the node carrying the fewest legs, never a draining one.

Whichever node holds the caller's socket, the conference's id is chosen so that
its partition of the bus (and with it its media) is owned by the least-loaded
node that advertises itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import redis.asyncio as redis
from fastapi import FastAPI

from talkbox.events.models import conference_key
from talkbox.events.placement import id_in
from talkbox.events.redis_bus import partition_of, redis_client
from tests.support.peer import Peer, connect
from tests.support.server import running_app

LOW_HZ, HIGH_HZ = 440.0, 880.0


def carrier(conference_id: str, one: FastAPI, two: FastAPI) -> str:
    """The node whose engine carries the conference: the owner of its partition."""
    partition = partition_of(conference_key(conference_id))
    return "one" if partition in one.state.talkbox.bus.owned() else "two"


async def advertised(client: redis.Redis, node: str, legs: int) -> None:
    async with asyncio.timeout(5):
        while int(await client.get(f"talkbox:load:{node}") or -1) != legs:
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def two_nodes(redis_url: str) -> AsyncIterator[tuple[tuple[str, FastAPI], tuple[str, FastAPI]]]:
    """Nodes one and two, sharing the partitions, each advertising that it carries nothing yet."""
    common = {"redis_url": redis_url, "redis_lease": 1.0, "media_workers": 0}
    async with running_app(node_id="one", **common) as one, running_app(node_id="two", **common) as two:
        async with asyncio.timeout(5):
            while len(two[1].state.talkbox.bus.owned()) < 8:
                await asyncio.sleep(0.05)
        client = redis_client(redis_url)
        await advertised(client, "one", 0)
        await advertised(client, "two", 0)
        await client.aclose()
        yield one, two


async def test_calls_go_to_the_least_loaded_node_and_never_to_a_draining_one(redis_url: str) -> None:
    client = redis_client(redis_url)
    async with two_nodes(redis_url) as ((one_url, one), (two_url, two)), contextlib.AsyncExitStack() as pages:
        # Every caller on node one's socket: where the socket is says nothing of where the media goes.
        alice, bob = [await pages.enter_async_context(Peer(url, n, f)) for url, n, f in
                      ((one_url, "alice", LOW_HZ), (two_url, "bob", HIGH_HZ))]  # fmt: skip
        await connect(alice, bob)
        first = carrier(alice.active_conference()["id"], one, two)
        other = "two" if first == "one" else "one"
        await advertised(client, first, 2)

        carol, dave = [await pages.enter_async_context(Peer(url, n, f)) for url, n, f in
                       ((one_url, "carol", LOW_HZ), (two_url, "dave", HIGH_HZ))]  # fmt: skip
        await connect(carol, dave)
        assert carrier(carol.active_conference()["id"], one, two) == other, "the idle node takes the second call"

        # The node that took the second call drains: a third call goes to the busy one rather than to it.
        await {"one": one, "two": two}[other].state.talkbox.placement.withdraw()
        assert await client.get(f"talkbox:load:{other}") is None
        erin, frank = [await pages.enter_async_context(Peer(url, n, f)) for url, n, f in
                       ((one_url, "erin", LOW_HZ), (two_url, "frank", HIGH_HZ))]  # fmt: skip
        await connect(erin, frank)
        assert carrier(erin.active_conference()["id"], one, two) == first
    await client.aclose()


async def test_a_burst_of_calls_within_one_second_is_spread_over_the_nodes(redis_url: str) -> None:
    """The load a node advertises is a second old at worst; each choice counts itself at once."""
    async with two_nodes(redis_url) as ((_u1, one), (_u2, two)):
        placement = one.state.talkbox.placement
        placement.pick = min  # ties to node one: without counting each choice, all ten would go there
        ids = [await placement.conference_id() for _ in range(10)]
        counts = {name: sum(carrier(i, one, two) == name for i in ids) for name in ("one", "two")}
        # 5 and 5, but for a node's own advertisement landing mid-burst and setting its count back to what it carries
        assert min(counts.values()) >= 3, counts


async def test_calls_an_application_creates_through_the_api_are_placed_the_same_way(redis_url: str) -> None:
    async with two_nodes(redis_url) as ((one_url, one), (_u2, two)):
        await one.state.talkbox.placement.withdraw()  # node one takes the requests and carries no new call
        key = one.state.talkbox.api_keys.create("app")
        async with httpx.AsyncClient(base_url=one_url, headers={"Authorization": f"Bearer {key}"}) as http:
            ids = []
            for n in range(10):
                created = await http.post("/api/v1/calls", json={"from": f"user{n}", "to": ["bob"]})
                ids.append(created.json()["id"])
        assert [carrier(i, one, two) for i in ids] == ["two"] * 10


def test_a_telephone_s_call_gets_an_id_in_a_partition_of_the_node_its_invite_came_to() -> None:
    owned = {3, 11}
    ids = {id_in(owned) for _ in range(50)}
    assert len(ids) == 50
    assert {partition_of(conference_key(conference_id)) for conference_id in ids} <= owned
    assert id_in(set()).startswith("c-")  # a node that owns nothing (draining) still answers the call
