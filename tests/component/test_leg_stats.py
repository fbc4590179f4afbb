"""The server's view of each leg (the media engine's jitter buffers and the peers' reports), for the chair only."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.peer import Peer, connect
from tests.support.server import running_server

ALICE_HZ, BOB_HZ, CAROL_HZ = 440.0, 880.0, 660.0


async def ask(peer: Peer, conference_id: str) -> dict[str, Any]:
    """The answer to `leg_stats`: the stats, or the refusal."""
    before = len(peer.messages)
    await peer.send({"type": "leg_stats", "conference_id": conference_id})
    await peer.wait_for(lambda: any(m["type"] in ("leg_stats", "refused") for m in peer.messages[before:]))
    return next(m for m in peer.messages[before:] if m["type"] in ("leg_stats", "refused"))


async def test_the_chair_sees_each_legs_buffer_and_nobody_else_does() -> None:
    async with (
        running_server() as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "carol", CAROL_HZ, auto_accept=True),
    ):
        await connect(alice, bob)
        conference_id = alice.active_conference()["id"]
        forwarded = await ask(alice, conference_id)
        assert forwarded["type"] == "leg_stats"
        assert {leg["buffered"] for leg in forwarded["legs"]} == {False}  # a call of two is forwarded as it is

        await alice.add("carol")
        await alice.wait_for(lambda: alice.level(CAROL_HZ) > -20)

        async with asyncio.timeout(10):
            while True:  # until every leg's buffer has had half a second of packets (asked within the budget)
                mixed = await ask(alice, conference_id)
                if len(mixed["legs"]) == 3 and all(leg["received"] > 25 for leg in mixed["legs"]):
                    break
                await asyncio.sleep(0.2)
        mine = {leg["id"] for leg in alice.active_conference()["legs"]}
        assert {leg["leg_id"] for leg in mixed["legs"]} == mine
        for leg in mixed["legs"]:
            assert leg["buffered"] is True
            assert 0 < leg["delay_ms"] <= 200 and leg["target_ms"] >= 20
            assert 0.0 <= leg["loss"] < 0.05  # loopback loses nothing worth the name

        refused = await ask(bob, conference_id)
        assert refused["type"] == "refused" and refused["code"] == "not_chair"
        assert (await ask(alice, "c-not-a-call"))["code"] == "not_chair"


async def test_the_chair_asking_as_the_call_ends_gets_no_legs_rather_than_a_refusal() -> None:
    """The page asks every 2 s: an ask that crosses the call's end must not replace the outcome with a refusal."""
    async with running_server() as url, Peer(url, "alice", ALICE_HZ) as alice, Peer(url, "bob", BOB_HZ) as bob:
        await connect(alice, bob)
        conference_id = alice.active_conference()["id"]
        await bob.hang_up()
        await alice.wait_for(lambda: alice.last_conference()["status"] == "ended")
        assert await ask(alice, conference_id) == {"type": "leg_stats", "conference_id": conference_id, "legs": []}
        assert (await ask(bob, conference_id))["code"] == "not_chair"
