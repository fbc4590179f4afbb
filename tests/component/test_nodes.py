"""Two Talkbox processes on one Redis behind nginx (deploy/nginx.conf): a call across them, a kill, a stop.

alice's socket is on one node and bob's on the other; the call is decided, and
its media carried, on the node that owns the conference's partition of the bus.
Killing that node moves its partitions to the other within the lease; the
pages reconnect through nginx, ask for their media again, and hear each other.
A node told to stop fails readiness at once and refuses new sockets, so nginx
sends new pages to the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path

import httpx

from talkbox.events.redis_bus import partition_of, redis_client
from tests.support.nodes import hear_each_other, node_of, nodes_behind_nginx, owners
from tests.support.peer import Peer, connect

ALICE_HZ, BOB_HZ = 440.0, 880.0
LEASE = 2.0


async def test_a_call_across_two_nodes_comes_back_after_the_node_carrying_it_is_killed(
    redis_url: str, tmp_path: Path
) -> None:
    client = redis_client(redis_url)
    async with (
        nodes_behind_nginx(tmp_path, redis_url, TALKBOX_REDIS_LEASE=str(LEASE)) as (nginx, nodes),
        contextlib.AsyncExitStack() as pages,
    ):
        alice = await pages.enter_async_context(Peer(nginx.url, "alice", ALICE_HZ))
        bob = await pages.enter_async_context(Peer(nginx.url, "bob", BOB_HZ))
        [alice_node], [bob_node] = await node_of(client, "alice"), await node_of(client, "bob")
        assert alice_node != bob_node, "nginx's round robin puts the second page on the other node"

        await connect(alice, bob)  # bob rings, accepts, and both hear each other
        partition = partition_of(f"conference:{alice.active_conference()['id']}")
        lease = f"talkbox:lease:{partition}"
        carrier = (await client.get(lease)).decode().split(":")[0]
        survivor = "two" if carrier == "one" else "one"

        next(node for node in nodes if node.name == carrier).signal(signal.SIGKILL)
        killed = time.monotonic()
        async with asyncio.timeout(3 * LEASE):
            while not (await client.get(lease) or b"").startswith(survivor.encode() + b":"):
                await asyncio.sleep(0.05)
        took_over = time.monotonic() - killed
        assert took_over < LEASE + 1.5, took_over

        # A page whose socket died reconnects through nginx (to the node left); both ask for their media again.
        back = []
        for peer in (alice, bob):
            if {"alice": alice_node, "bob": bob_node}[peer.name] == carrier:
                peer = await pages.enter_async_context(Peer(nginx.url, peer.name, peer.frequency))
            back.append(peer)
        for peer in back:
            await peer.resume()
        await hear_each_other(*back)
        print(f"takeover {took_over:.2f} s, audio back {time.monotonic() - killed:.2f} s after the kill")
        assert time.monotonic() - killed < 10
        # (the dead node's entries stop counting once its heartbeat is older than the presence TTL)
        assert survivor in await node_of(client, "alice") and survivor in await node_of(client, "bob")
    await client.aclose()


async def test_a_stopping_node_fails_readiness_first_and_new_pages_go_to_the_other(
    redis_url: str, tmp_path: Path
) -> None:
    client = redis_client(redis_url)
    async with (
        nodes_behind_nginx(tmp_path, redis_url, TALKBOX_REDIS_LEASE="5", TALKBOX_STOP_DELAY="3") as (nginx, nodes),
        httpx.AsyncClient() as http,
    ):
        one = nodes[0]
        one.signal(signal.SIGTERM)
        stopped = time.monotonic()
        async with asyncio.timeout(1):
            while (await http.get(f"{one.url}/readyz")).status_code != 503:
                await asyncio.sleep(0.02)
        assert (await http.get(f"{one.url}/healthz")).status_code == 200  # alive, just not taking new pages
        for name in ("carol", "dave", "erin"):
            async with Peer(nginx.url, name, ALICE_HZ):
                assert await node_of(client, name) == {"two"}
        assert time.monotonic() - stopped < 3, "all of that happened while node one was still up"
        await one.exited()
        async with asyncio.timeout(3):  # handed over on the way out, not left to expire (5 s)
            while set(await owners(client)) != {"two"}:
                await asyncio.sleep(0.05)
    await client.aclose()
