"""Rolling restarts: two Talkbox processes behind nginx (deploy/nginx.conf), one told to stop (SIGTERM) mid-call.

A stopping node keeps carrying the media of its calls, moves its pages'
sockets to the other node (each at its own moment within TALKBOX_STOP_DELAY;
they reconnect through nginx with the last `seq` they saw), and leaves once
its calls have ended; past TALKBOX_DRAIN_TIMEOUT it leaves anyway and the other
node offers the calls' legs again at once, so the pages move their media there
without doing anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path

import httpx
import redis.asyncio as redis

from talkbox.events.redis_bus import partition_of, redis_client
from talkbox.ui.protocol import CloseCode
from tests.support.nodes import Node, hear_each_other, node_of, nodes_behind_nginx, owners
from tests.support.peer import Peer, connect

ALICE_HZ, BOB_HZ = 440.0, 880.0


def offers(peer: Peer) -> int:
    return sum(message["type"] == "offer" for message in peer.messages)


async def carrier_of(client: redis.Redis, peer: Peer, nodes: list[Node]) -> tuple[Node, Node]:
    """The node whose engine carries the peer's call (its partition's owner), and the other one."""
    partition = partition_of(f"conference:{peer.active_conference()['id']}")
    name = (await client.get(f"talkbox:lease:{partition}")).decode().split(":")[0]
    carrier = next(node for node in nodes if node.name == name)
    return carrier, next(node for node in nodes if node is not carrier)


async def test_a_stopping_node_keeps_its_calls_media_moves_its_pages_and_leaves_once_the_call_ends(
    redis_url: str, tmp_path: Path
) -> None:
    client = redis_client(redis_url)
    env = {"TALKBOX_REDIS_LEASE": "2", "TALKBOX_STOP_DELAY": "1", "TALKBOX_DRAIN_TIMEOUT": "60"}
    async with (
        nodes_behind_nginx(tmp_path, redis_url, **env) as (nginx, nodes),
        contextlib.AsyncExitStack() as pages,
        httpx.AsyncClient() as http,
    ):
        alice = await pages.enter_async_context(Peer(nginx.url, "alice", ALICE_HZ, reconnect=True))
        bob = await pages.enter_async_context(Peer(nginx.url, "bob", BOB_HZ, reconnect=True))
        await connect(alice, bob)
        carrier, survivor = await carrier_of(client, alice, nodes)
        moved = [peer for peer in (alice, bob) if await node_of(client, peer.name) == {carrier.name}]
        assert len(moved) == 1, "one page on each node"
        offered = {peer.name: offers(peer) for peer in (alice, bob)}

        carrier.signal(signal.SIGTERM)
        stopped = time.monotonic()
        assert (await http.get(f"{carrier.url}/readyz")).status_code == 503
        await moved[0].wait_for(lambda: CloseCode.MOVING in moved[0].closes, timeout=5)
        async with asyncio.timeout(5):  # back through nginx, on the node that stays
            while await node_of(client, moved[0].name) != {survivor.name}:
                await asyncio.sleep(0.05)

        await asyncio.sleep(1.5)  # well past the stop delay: the node stays for its call
        assert carrier.process is not None and carrier.process.poll() is None
        await hear_each_other(alice, bob)
        assert {peer.name: offers(peer) for peer in (alice, bob)} == offered, "the media never moved"
        assert time.monotonic() - stopped < 20

        # A request from either socket still reaches the call on the draining node, and its answer both pages.
        await alice.mute("bob")
        await bob.wait_for(lambda: bob.my_leg(bob.active_conference())["muted"])
        await alice.hang_up()
        await bob.wait_for(lambda: bob.last_conference()["status"] == "ended")
        ended = time.monotonic()
        await carrier.exited(timeout=10)
        print(f"left {time.monotonic() - ended:.2f} s after its last call ended")
        async with asyncio.timeout(3):  # released on the way out: taken within a renewal, not left to expire
            while set(await owners(client)) != {survivor.name}:
                await asyncio.sleep(0.05)
    await client.aclose()


async def test_past_the_drain_timeout_the_call_moves_and_a_restart_of_each_node_in_turn_keeps_it(
    redis_url: str, tmp_path: Path
) -> None:
    client = redis_client(redis_url)
    env = {"TALKBOX_REDIS_LEASE": "2", "TALKBOX_STOP_DELAY": "1", "TALKBOX_DRAIN_TIMEOUT": "3"}
    async with (
        nodes_behind_nginx(tmp_path, redis_url, **env) as (nginx, nodes),
        contextlib.AsyncExitStack() as pages,
    ):
        alice = await pages.enter_async_context(Peer(nginx.url, "alice", ALICE_HZ, reconnect=True))
        bob = await pages.enter_async_context(Peer(nginx.url, "bob", BOB_HZ, reconnect=True))
        await connect(alice, bob)
        conference = alice.active_conference()["id"]
        gaps = []
        for _turn in range(2):  # each node in turn, the one carrying the call first
            carrier, survivor = await carrier_of(client, alice, nodes)
            carrier.signal(signal.SIGTERM)
            await carrier.exited(timeout=15)
            left = time.monotonic()
            await hear_each_other(alice, bob)  # offered again on the survivor: the peers answer by themselves
            gaps.append(time.monotonic() - left)
            assert (await carrier_of(client, alice, nodes))[0] is survivor
            await carrier.start()
        print("audio back after each node left: " + ", ".join(f"{gap:.2f} s" for gap in gaps))
        assert max(gaps) < 10
        assert alice.active_conference()["id"] == conference
        assert [leg["status"] for leg in alice.active_conference()["legs"]] == ["in-progress", "in-progress"]
    await client.aclose()
