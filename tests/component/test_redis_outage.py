"""Redis out of reach for a while: calls keep their media, requests are answered "try again", all comes back.

Redis runs with an append-only file synced on every write, as the README asks
of a deployment, so its restart loses nothing.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import websockets

from tests.support.peer import Peer, connect
from tests.support.processes import media_workers
from tests.support.redis_server import redis_server
from tests.support.server import running_app

ALICE_HZ, BOB_HZ = 440.0, 880.0
GRACE = 2.0


async def still_hears(peer: Peer, frequency: float) -> None:
    peer.heard.clear()
    await peer.wait_for(lambda: len(peer.heard) > 20 and peer.level(frequency) > -20)


async def test_while_redis_is_away_calls_go_on_requests_are_refused_and_all_recovers(tmp_path: Path) -> None:
    with redis_server(tmp_path, persistent=True) as redis:
        async with (
            running_app(redis_url=redis.url, node_id="one", redis_lease=1.0, media_workers=0, resume_grace=GRACE)
            as (url, app),
            Peer(url, "alice", ALICE_HZ) as alice,
            Peer(url, "bob", BOB_HZ) as bob,
        ):  # fmt: skip
            await connect(alice, bob)
            redis.stop()
            await asyncio.sleep(1.5)  # past the lease: the partitions are nobody's now
            await still_hears(alice, BOB_HZ)
            await still_hears(bob, ALICE_HZ)
            assert (await app.state.talkbox.ready()) is False

            await alice.mute("bob")
            await alice.wait_for(lambda: any(m.get("code") == "unavailable" for m in alice.messages))
            [refusal] = [m for m in alice.messages if m.get("code") == "unavailable"]
            assert "try again" in refusal["message"].lower()

            ws_url = url.replace("http", "ws", 1)
            async with websockets.connect(f"{ws_url}/ws?client_name=carol") as carol:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(carol.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013  # "try again later"

            redis.start()
            async with asyncio.timeout(5):
                while len(app.state.talkbox.bus.owned()) < 16:
                    await asyncio.sleep(0.05)
            assert await app.state.talkbox.ready()
            # Taken back by the process that carries the calls: nothing is resumed, so nothing times out.
            await asyncio.sleep(GRACE + 1)
            await still_hears(alice, BOB_HZ)
            await still_hears(bob, ALICE_HZ)
            assert [leg["status"] for leg in bob.active_conference()["legs"]] == ["in-progress", "in-progress"]

            await alice.mute("bob")  # the same request, now taken
            await bob.wait_for(lambda: any(leg["muted"] for leg in bob.active_conference()["legs"]))
            await alice.hang_up()
            await bob.wait_for(lambda: bob.last_conference()["status"] == "ended")


async def test_a_node_stopped_while_redis_is_away_still_stops_its_media_workers(tmp_path: Path) -> None:
    """Its shutdown cannot wait for the bus to drain; it must still let go of its processes and connections."""
    with redis_server(tmp_path) as redis:
        async with (
            running_app(redis_url=redis.url, node_id="one", redis_lease=1.0, media_workers=1) as (url, _app),
            Peer(url, "alice", ALICE_HZ) as alice,
            Peer(url, "bob", BOB_HZ) as bob,
        ):
            await connect(alice, bob)
            assert len(media_workers(os.getpid())) == 1
            redis.stop()
    assert media_workers(os.getpid()) == []
